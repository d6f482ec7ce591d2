"""`DeadLetters` and ``ami dlq``: list, count, replay and purge dead letters on a real cluster."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis.cluster import RedisCluster

import ami
from ami import cli
from ami.ops import DeadLetter, DeadLetters, parse_id
from helpers import drain, total_length

SHARDS = 2
PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"


@pytest.fixture(autouse=True)
def _no_ambient_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep $AMI_NODES and a state file in the working directory out of the tests."""
    monkeypatch.delenv("AMI_NODES", raising=False)
    monkeypatch.chdir(tmp_path)


def _dlq(queue: str, shard: int) -> str:
    return f"qu{{{shard}}}:dlq:{queue}"


def _write(
    redis_client: RedisCluster,
    queue: str,
    shard: int,
    body: bytes,
    *,
    entry_id: str = "*",
    deliveries: int = 2,
    original_id: str = "1-1",
) -> str:
    """Write a dead letter exactly as the consumer does; returns its id."""
    fields = {
        "m": body,
        "reason": "max_deliveries",
        "deliveries": str(deliveries),
        "id": original_id,
        "stream": f"qu{{{shard}}}_{queue}",
    }
    new_id = redis_client.xadd(_dlq(queue, shard), fields, id=entry_id)  # type: ignore[arg-type]
    return new_id.decode() if isinstance(new_id, bytes) else str(new_id)


def _dead_letter_for_real(nodes: list[str], queue: str, bodies: list[bytes]) -> list[ami.Message]:
    """Produce `bodies` and let a consumer that never acks dead-letter all of them.

    Returns:
        The messages as first delivered.
    """
    with ami.Producer(queue, nodes=nodes, shards=SHARDS) as producer:
        producer.send_many(bodies)
    first: dict[bytes, ami.Message] = {}
    with ami.Consumer(
        queue, consumer="c", nodes=nodes, shards=SHARDS, claim_idle=0.2, max_deliveries=1
    ) as consumer:
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline and consumer.stats()["dead_lettered"] < len(bodies):
            for message in consumer.consume(100, timeout=0.2):
                first.setdefault(message.body, message)  # the handler fails: never acked
        assert consumer.stats()["dead_lettered"] == len(bodies)
    return [first[body] for body in bodies]


def _create_group(redis_client: RedisCluster, queue: str) -> None:
    """Create the consumer group as a consumer would (at ``$``), before anything is replayed."""
    for shard in range(SHARDS):
        redis_client.xgroup_create(f"qu{{{shard}}}_{queue}", f"qu_{queue}_group", mkstream=True)


def _receive(nodes: list[str], queue: str, expected: int) -> list[bytes]:
    with ami.Consumer(queue, consumer="r", nodes=nodes, shards=SHARDS) as consumer:
        return sorted(m.body for m in drain(consumer, expected, idle=3.0))


def _open(nodes: list[str], queue: str) -> DeadLetters:
    return DeadLetters(queue, nodes=nodes, shards=SHARDS)


# --------------------------------------------------------------------------- the API


def test_dead_letters_of_a_consumer_are_listed_and_one_is_replayed(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    bodies = [b"poison-0", b"poison-1", b"poison-2"]
    delivered = _dead_letter_for_real(nodes, queue, bodies)

    with _open(nodes, queue) as dlq:
        assert dlq.count() == 3
        letters = dlq.list()
        assert sorted(letter.body for letter in letters) == bodies
        assert [(a.id, a.shard) for a in letters] == sorted(
            ((a.id, a.shard) for a in letters), key=lambda k: (*map(int, k[0].split("-")), k[1])
        )
        by_body = {letter.body: letter for letter in letters}
        for message in delivered:
            letter = by_body[message.body]
            assert letter.reason == "max_deliveries"
            assert letter.deliveries == 1  # max_deliveries=1: the one the application got
            assert letter.original_id == message.id
            assert letter.original_stream == message.stream
            assert letter.shard == int(message.stream[3 : message.stream.index("}")])
            assert letter.dead_letter_stream == _dlq(queue, letter.shard)

        target = by_body[b"poison-1"]
        assert dlq.replay([f"{target.shard}:{target.id}"]) == 1
        assert dlq.count() == 2
        assert b"poison-1" not in [letter.body for letter in dlq.list()]
        # Replayed again (already gone): skipped.
        assert dlq.replay([f"{target.shard}:{target.id}"]) == 0

    assert total_length(redis_client, queue, SHARDS) == 1
    assert _receive(nodes, queue, 1) == [b"poison-1"]


def test_replay_all_puts_every_dead_letter_back(nodes: list[str], queue: str) -> None:
    bodies = [b"a", b"b", b"c", b"d"]
    _dead_letter_for_real(nodes, queue, bodies)

    with _open(nodes, queue) as dlq:
        assert dlq.replay() == 4
        assert dlq.count() == 0
        assert dlq.list() == []

    assert _receive(nodes, queue, 4) == bodies


def test_replay_all_reads_in_batches(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    letters = 1_201  # more than two of the core's batches of 500, in one shard
    pipe = redis_client.pipeline(transaction=False)
    for i in range(letters):
        pipe.xadd(_dlq(queue, 1), {"m": b"%d" % i, "reason": "max_deliveries"})
    pipe.execute()

    with _open(nodes, queue) as dlq:
        assert dlq.replay() == letters
        assert dlq.count() == 0

    assert total_length(redis_client, queue, SHARDS) == letters


def test_list_is_oldest_first_across_shards_and_limited(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    _write(redis_client, queue, 1, b"first", entry_id="1000-1")
    _write(redis_client, queue, 0, b"second", entry_id="2000-1")
    _write(redis_client, queue, 1, b"third", entry_id="3000-1", deliveries=7)

    with _open(nodes, queue) as dlq:
        assert [(a.id, a.shard, a.body) for a in dlq.list(limit=2)] == [
            ("1000-1", 1, b"first"),
            ("2000-1", 0, b"second"),
        ]
        assert dlq.list(limit=0) == []
        [*_, last] = dlq.list()
        assert last == DeadLetter(
            id="3000-1",
            dead_letter_stream=_dlq(queue, 1),
            shard=1,
            body=b"third",
            reason="max_deliveries",
            deliveries=7,
            original_id="1-1",
            original_stream=f"qu{{1}}_{queue}",
        )


def test_purge_by_id_and_all(nodes: list[str], redis_client: RedisCluster, queue: str) -> None:
    ids = [_write(redis_client, queue, i % SHARDS, b"%d" % i) for i in range(5)]

    with _open(nodes, queue) as dlq:
        # Ids made in the same millisecond on two shards are equal: name the shard.
        assert dlq.purge([f"0:{ids[0]}", f"1:{ids[3]}", "1-1"]) == 2
        assert dlq.count() == 3
        assert sorted(a.body for a in dlq.list()) == [b"1", b"2", b"4"]
        assert dlq.purge() == 3
        assert dlq.count() == 0

    assert redis_client.exists(_dlq(queue, 0), _dlq(queue, 1)) == 0


def test_the_same_id_in_two_shards_needs_a_shard(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    _create_group(redis_client, queue)
    _write(redis_client, queue, 0, b"zero", entry_id="5-1")
    _write(redis_client, queue, 1, b"one", entry_id="5-1")

    with _open(nodes, queue) as dlq:
        with pytest.raises(ami.ConfigError, match="0:5-1, 1:5-1") as info:
            dlq.replay(["5-1"])
        assert info.value.option == "ids"
        with pytest.raises(ami.ConfigError, match="more than one shard"):
            dlq.purge(["5-1"])
        assert dlq.count() == 2
        assert dlq.purge(["1:5-1"]) == 1
        assert dlq.replay(["5-1"]) == 1

    assert _receive(nodes, queue, 1) == [b"zero"]


def test_a_missing_queue_has_no_dead_letters(nodes: list[str], queue: str) -> None:
    with _open(nodes, queue) as dlq:
        assert dlq.count() == 0
        assert dlq.list() == []
        assert dlq.replay() == 0
        assert dlq.replay(["1-1", "0:2-2"]) == 0
        assert dlq.purge(["1-1"]) == 0
        assert dlq.purge() == 0


def test_an_entry_without_a_body_is_not_replayed(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    redis_client.xadd(_dlq(queue, 0), {"reason": "manual"})

    with _open(nodes, queue) as dlq:
        assert dlq.replay() == 0
        [letter] = dlq.list()
        assert (letter.body, letter.reason, letter.deliveries) == (b"", "manual", 0)

    assert total_length(redis_client, queue, SHARDS) == 0


def test_to_dict_encodes_binary_bodies() -> None:
    letter = DeadLetter("1-1", "qu{0}:dlq:q", 0, b"\xff\x00", "max_deliveries", 3, "9-9", "qu{0}_q")
    data = letter.to_dict()
    assert (data["body"], data["body_base64"]) == ("/wA=", True)
    assert json.loads(json.dumps(data))["deliveries"] == 3
    text = DeadLetter("1-1", "qu{0}:dlq:q", 0, "héllo".encode(), "", 0, "", "qu{0}_q").to_dict()
    assert (text["body"], text["body_base64"]) == ("héllo", False)


@pytest.mark.parametrize(
    ("kwargs", "option"),
    [
        ({"name": "bad name"}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"shards": 0}, "shards"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"nodes": "no-port"}, "nodes"),
    ],
)
def test_invalid_options(kwargs: dict[str, object], option: str) -> None:
    options: dict[str, object] = {"name": "q", "nodes": "127.0.0.1:1", **kwargs}
    with pytest.raises(ami.ConfigError) as info:
        DeadLetters(**options)  # type: ignore[arg-type]
    assert info.value.option == option


def test_invalid_ids_and_limits(nodes: list[str], queue: str) -> None:
    with _open(nodes, queue) as dlq:
        for ids in (["nope"], ["1-2-3"], ["-1-1"], "1-1"):
            with pytest.raises(ami.ConfigError, match="invalid ids"):
                dlq.replay(ids)
        with pytest.raises(ami.ConfigError, match="shard 2"):
            dlq.purge(["2:1-1"])
        with pytest.raises(ami.ConfigError, match="invalid limit"):
            dlq.list(-1)
    assert parse_id("3:0017-2") == (3, "17-2")
    assert parse_id("1-0") == (None, "1-0")


def test_closed(nodes: list[str], queue: str) -> None:
    dlq = _open(nodes, queue)
    dlq.close()
    dlq.close()
    with pytest.raises(ami.ClientClosedError):
        dlq.count()


def test_unreachable_nodes(queue: str) -> None:
    with pytest.raises(ami.ConnectError):
        DeadLetters(queue, nodes=_dead_address(), connect_timeout=1.0)


# --------------------------------------------------------------------------- the CLI


def _args(queue: str, nodes: list[str], *ids: str) -> list[str]:
    return [queue, *ids, "--nodes", ",".join(nodes), "--shards", str(SHARDS)]


def test_cli_list_table_and_json(
    nodes: list[str], redis_client: RedisCluster, queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(redis_client, queue, 1, b"hello world", entry_id="1000-1", original_id="77-0")
    _write(redis_client, queue, 0, b"\xffbin", entry_id="2000-1", deliveries=4)
    _write(redis_client, queue, 0, b"x" * 100, entry_id="3000-1")

    assert cli.main(["dlq", "list", *_args(queue, nodes)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == [
        "DLQ_ID",
        "SHARD",
        "DELIVERIES",
        "REASON",
        "ORIGINAL_ID",
        "HEADERS",
        "BODY",
    ]
    assert lines[1].split(maxsplit=6) == [
        "1000-1",
        "1",
        "2",
        "max_deliveries",
        "77-0",
        "-",
        "hello world",
    ]
    assert lines[2].split()[2] == "4" and lines[2].endswith("b'\\xffbin'")
    assert lines[3].endswith("x" * 57 + "...")
    assert err == ""

    assert cli.main(["dlq", "list", *_args(queue, nodes), "--json", "--limit", "2"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert [d["id"] for d in data] == ["1000-1", "2000-1"]
    assert data[0]["body"] == "hello world" and data[0]["original_id"] == "77-0"
    assert data[1]["body_base64"] is True
    assert err == "showing 2 of 3 dead letters; see --limit\n"


def test_cli_list_of_a_missing_queue(
    nodes: list[str], queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["dlq", "list", *_args(queue, nodes)]) == 0
    assert capsys.readouterr().out == f"no dead letters in {queue}\n"
    assert cli.main(["dlq", "list", *_args(queue, nodes), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_cli_replay(
    nodes: list[str], redis_client: RedisCluster, queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _create_group(redis_client, queue)
    first = _write(redis_client, queue, 0, b"one", entry_id="1000-0")
    _write(redis_client, queue, 1, b"two", entry_id="2000-0")
    _write(redis_client, queue, 1, b"three", entry_id="3000-0")

    assert cli.main(["dlq", "replay", *_args(queue, nodes, first, "0:9-9")]) == 0
    out, err = capsys.readouterr()
    assert out == f"replayed 1 dead letter to {queue}\n"
    assert err == "1 of 2 IDs were not found\n"
    assert _receive(nodes, queue, 1) == [b"one"]

    assert cli.main(["dlq", "replay", *_args(queue, nodes), "--all"]) == 0
    assert capsys.readouterr().out == f"replayed 2 dead letters to {queue}\n"
    assert _receive(nodes, queue, 2) == [b"three", b"two"]


def test_cli_purge(
    nodes: list[str], redis_client: RedisCluster, queue: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [_write(redis_client, queue, i % SHARDS, b"%d" % i) for i in range(4)]

    assert cli.main(["dlq", "purge", *_args(queue, nodes, f"0:{ids[0]}")]) == 0
    assert capsys.readouterr().out == f"purged 1 dead letter from {queue}\n"

    assert cli.main(["dlq", "purge", *_args(queue, nodes), "--all"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--yes" in err and err.count("\n") == 1
    assert redis_client.xlen(_dlq(queue, 0)) + redis_client.xlen(_dlq(queue, 1)) == 3

    assert cli.main(["dlq", "purge", *_args(queue, nodes), "--all", "--yes"]) == 0
    assert capsys.readouterr().out == f"purged 3 dead letters from {queue}\n"
    assert redis_client.exists(_dlq(queue, 0), _dlq(queue, 1)) == 0


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["dlq", "list", "bad name"], "invalid name: \"bad name\" contains ' '"),
        (["dlq", "replay", "bad name", "--all"], "invalid name"),
        (["dlq", "purge", "q"], "give the IDs"),
        (["dlq", "replay", "q", "1-1", "--all"], "not both"),
        (["dlq", "replay", "q", "one"], "invalid ids: 'one'"),
        (["dlq", "purge", "q", "5:1-1", "--shards", "2"], "names shard 5"),
        (["dlq", "list", "q", "--limit", "-1"], "--limit"),
    ],
)
def test_cli_usage_errors(
    nodes: list[str], argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([*argv, "--nodes", ",".join(nodes)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert expected in err
    assert err.startswith(("ami: error: ", "ami dlq list: error: ")) and err.count("\n") == 1


def test_cli_unreachable_nodes_fail_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    address = _dead_address()
    assert cli.main(["dlq", "list", "q", "--nodes", address, "--timeout", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ami: error: ConnectError: ") and address in err
    assert err.count("\n") == 1


def test_cli_subprocess_lists_with_nodes_from_the_environment(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    entry_id = _write(redis_client, queue, 1, b"from a subprocess")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PYTHON_DIR), env.get("PYTHONPATH")]))
    env["AMI_NODES"] = ",".join(nodes)

    result = subprocess.run(
        [sys.executable, "-m", "ami", "dlq", "list", queue, "--shards", str(SHARDS), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (result.returncode, result.stderr) == (0, "")
    [letter] = json.loads(result.stdout)
    assert (letter["id"], letter["shard"], letter["body"]) == (entry_id, 1, "from a subprocess")


def _dead_address() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"
