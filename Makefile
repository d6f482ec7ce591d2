# One front door for humans and CI. `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deps-installed

.DEFAULT_GOAL := help
.PHONY: help setup build demo test test-rust test-python lint fmt bench cluster-up cluster-down clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --group dev
	touch $(STAMP)

setup: $(STAMP) ## create .venv with the build and test tools

build: $(STAMP) ## build the Rust core (release) into .venv
	@find python/ami -name '_ami*.so' -delete
	$(VENV)/bin/maturin develop --release --quiet

demo: build ## start a local 3-master cluster, move 1,000,000 messages through it, stop it
	$(PY) -m ami demo

test: build test-rust test-python ## build, then run the Rust and Python tests

test-rust: ## Rust unit tests (no interpreter, no server)
	cargo test --release --quiet

test-python: ## pytest against local clusters the tests start
	$(PY) -m pytest

lint: build ## clippy, rustfmt, ruff, mypy, stubtest
	cargo fmt --check
	cargo clippy --release --all-targets -- -D warnings
	cargo clippy --release --all-targets --features python -- -D warnings
	$(VENV)/bin/ruff check python tests benches
	$(VENV)/bin/ruff format --check python tests benches
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest ami._ami

fmt: $(STAMP) ## format Rust and Python sources
	cargo fmt
	$(VENV)/bin/ruff format python tests benches
	$(VENV)/bin/ruff check --fix python tests benches

bench: build ## benchmarks: criterion hot paths, then end-to-end against a local cluster
	cargo bench --bench hot_paths
	$(PY) -m ami bench

cluster-up: build ## start a local development cluster (state in .ami-cluster.json)
	$(PY) -m ami cluster up

cluster-down: ## stop the local development cluster
	$(PY) -m ami cluster down

clean: ## remove build products and the venv
	rm -rf target $(VENV) python/ami/_ami*.so
