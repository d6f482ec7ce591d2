"""Every option is declared once, in `ami._options`: the core, the sync and asyncio
clients, the stub and the docs must all agree with it."""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from redis.cluster import RedisCluster

import ami
from ami import _ami, _options
from helpers import stream_names

OPTIONS_SOURCE = Path(_options.__file__).read_text()
UNREACHABLE = ["127.0.0.1:1"]

# The core's defaults, and those of the options only Python handles.
DEFAULTS: dict[type, dict[str, Any]] = {
    ami.ProducerOptions: {
        **_ami.ProducerCore.defaults(),
        "on_error": None,
        "on_delivery": None,
        "exit_timeout": _options.EXIT_TIMEOUT,
    },
    ami.ConsumerOptions: {**_ami.ConsumerCore.defaults(), "on_error": None},
}
CLIENTS: dict[type, list[type]] = {
    ami.ProducerOptions: [ami.Producer, ami.AsyncProducer],
    ami.ConsumerOptions: [ami.Consumer, ami.AsyncConsumer],
}
BY_CLIENT = [(options, client) for options, clients in CLIENTS.items() for client in clients]


def documented(class_name: str) -> dict[str, str]:
    """The docstring under each key of a TypedDict in `ami._options`, its bases' included."""
    classes = {
        node.name: node for node in ast.parse(OPTIONS_SOURCE).body if isinstance(node, ast.ClassDef)
    }
    node = classes[class_name]
    docs: dict[str, str] = {}
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id in classes:
            docs.update(documented(base.id))
    for statement, after in pairwise(node.body):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[statement.target.id] = after.value.value
    return docs


def start(client: type, options: dict[str, Any]) -> object:
    """Creates a client (and starts an asyncio one), as a user would."""
    extra = {"consumer": "c"} if "Consumer" in client.__name__ else {}
    created = client("q", **extra, **options)
    if isinstance(created, ami.AsyncProducer | ami.AsyncConsumer):
        return asyncio.run(created.start())
    return created


@pytest.mark.parametrize("options", list(DEFAULTS), ids=lambda o: o.__name__)
def test_the_typed_dict_names_exactly_the_core_options_and_the_python_ones(
    options: type,
) -> None:
    assert options.__optional_keys__ == set(DEFAULTS[options])
    assert not options.__required_keys__


@pytest.mark.parametrize("options", list(DEFAULTS), ids=lambda o: o.__name__)
def test_every_option_is_documented_with_its_actual_default(options: type) -> None:
    docs = documented(options.__name__)
    assert set(docs) == set(DEFAULTS[options])
    for key, doc in docs.items():
        stated = re.search(r"Default: ``(.+?)``", doc)
        assert stated, f"{key}: no 'Default: ``...``' in its doc"
        actual = DEFAULTS[options][key]
        assert ast.literal_eval(stated[1]) == actual, f"{key}: the default is {actual!r}"


@pytest.mark.parametrize(("options", "client"), BY_CLIENT, ids=lambda c: c.__name__)
def test_every_option_reaches_the_core(options: type, client: type) -> None:
    # Every option at its default, save one the core refuses before any network I/O: a
    # key the client dropped or the core does not know would fail differently.
    every = {**DEFAULTS[options], "nodes": UNREACHABLE, "shards": 0}
    with pytest.raises(ami.ConfigError) as raised:
        start(client, every)
    assert raised.value.option == "shards"


@pytest.mark.parametrize(("options", "client"), BY_CLIENT, ids=lambda c: c.__name__)
def test_an_unknown_option_is_a_type_error_at_construction(options: type, client: type) -> None:
    extra = {"consumer": "c"} if "Consumer" in client.__name__ else {}
    expected = f"{client.__name__}() got an unexpected keyword argument 'bogus'"
    with pytest.raises(TypeError, match=re.escape(expected)):
        client("q", **extra, bogus=1)


@pytest.mark.parametrize("core", [_ami.ProducerCore, _ami.ConsumerCore], ids=lambda c: c.__name__)
def test_the_core_refuses_an_unknown_option(core: Any) -> None:
    extra = {"consumer": "c"} if core is _ami.ConsumerCore else {}
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        core("q", **extra, bogus=1)


@pytest.mark.parametrize("clients", list(CLIENTS.values()), ids=lambda c: c[0].__name__)
def test_the_asyncio_twin_has_the_signature_of_the_sync_client(clients: list[type]) -> None:
    sync, twin = clients
    assert inspect.signature(twin) == inspect.signature(sync)


def test_a_wrong_type_names_its_option() -> None:
    with pytest.raises(TypeError) as raised:
        _ami.ProducerCore("q", shards="ten")
    assert "while processing 'shards'" in getattr(raised.value, "__notes__", [])


def test_the_stub_matches_the_core() -> None:
    package_root = Path(ami.__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    checked = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "ami._ami"],
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_both_twins_honour_send_timeout(
    nodes: list[str], queue: str, redis_client: RedisCluster
) -> None:
    # One buffered message fills the buffer, and the master holds its write unanswered.
    options: dict[str, Any] = {
        "nodes": nodes,
        "shards": 1,
        "pending_buffer_size": 1,
        "send_timeout": 0.3,
    }
    [stream] = stream_names(queue, 1)
    master = redis_client.get_redis_connection(redis_client.get_node_from_key(stream))

    with ami.Producer(queue, **options) as producer:
        master.execute_command("CLIENT", "PAUSE", 2000, "WRITE")
        producer.send(b"first")
        started = time.monotonic()
        with pytest.raises(ami.OperationTimeout):
            producer.send(b"second")
        assert 0.3 <= time.monotonic() - started < 2.0

    async def main() -> None:
        async with ami.AsyncProducer(queue, **options) as producer:
            master.execute_command("CLIENT", "PAUSE", 2000, "WRITE")
            await producer.send(b"first")
            started = time.monotonic()
            with pytest.raises(ami.OperationTimeout):
                await producer.send_many([b"second", b"third"])
            assert 0.3 <= time.monotonic() - started < 2.0

    try:
        asyncio.run(main())
    finally:
        master.execute_command("CLIENT", "UNPAUSE")


def test_the_readme_table_names_exactly_the_options() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("\n## Options\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    named = {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}

    assert named == set(DEFAULTS[ami.ProducerOptions]) | set(DEFAULTS[ami.ConsumerOptions])
