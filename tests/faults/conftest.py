"""Fixtures of the fault-injection suite: a run directory, a run id and the worker fleet.

Each scenario runs real producer and consumer processes (`faults.workers`), injects one
fault and lets `faults.checker` compute what was lost, duplicated or left behind.
Everything runs by default (about 2.5 minutes). Markers: ``smoke`` selects the quick
subset (``pytest tests/faults -m smoke``, under a minute); ``slow`` is for scenarios too
slow or too flaky for routine runs (none at present), left out with ``-m "not slow"``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.workers import Fleet


def pytest_configure(config: pytest.Config) -> None:
    """Registers the suite's markers (unknown markers are errors under filterwarnings)."""
    config.addinivalue_line("markers", "smoke: quick fault scenarios, the default subset")
    config.addinivalue_line("markers", "slow: fault scenarios too slow for routine runs")


@pytest.fixture
def run_id() -> str:
    """An id put in every body of this run, so foreign messages are recognised."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """The directory the workers of this run write to."""
    directory = tmp_path / "run"
    directory.mkdir()
    return directory


@pytest.fixture
def fleet(run_dir: Path) -> Iterator[Fleet]:
    """The worker processes of one scenario; whatever still runs is SIGKILLed at the end."""
    workers = Fleet(run_dir)
    try:
        yield workers
    finally:
        workers.shutdown()
