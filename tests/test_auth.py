"""Password and ACL authentication; credentials never show up in errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import redis
from conftest import SERVER
from redis.cluster import ClusterNode, RedisCluster

import ami
from ami import cli
from helpers import drain, total_length, wait_until

PASSWORD = "t0p-secret-pw-for-tests"
PRODUCER_RULES = [
    "on",
    ">producer-pw",
    "resetkeys",
    "~qu*",
    "-@all",
    "+xadd",
    "+xgroup|create",
    "+set",
    "+get",
    "+eval",
    "+wait",
    "+ping",
    "+cluster|slots",
    "+cluster|shards",
    "+cluster|nodes",
    "+info",
    "+hello",
    "+command|docs",
    "+readonly",
]
CONSUMER_RULES = [
    "on",
    ">consumer-pw",
    "resetkeys",
    "~qu*",
    "-@all",
    "+xreadgroup",
    "+xack",
    "+xdel",
    "+xpending",
    "+xclaim",
    "+xgroup|create",
    "+eval",
    "+xrange",
    "+xlen",
    "+xtrim",
    "+xadd",
    "+set",
    "+get",
    "+ping",
    "+cluster|slots",
    "+cluster|shards",
    "+cluster|nodes",
    "+info",
    "+hello",
    "+readonly",
]
# What `ami.inspect`, `ami.DeadLetters`, `ami.ops.tail` and the CLI need: reads, plus
# the writes of replay and purge.
OPERATOR_RULES = [
    "on",
    ">operator-pw",
    "resetkeys",
    "~qu*",
    "-@all",
    "+get",
    "+exists",
    "+xlen",
    "+xinfo|groups",
    "+xinfo|consumers",
    "+xpending",
    "+xrange",
    "+xrevrange",
    "+time",
    "+eval",
    "+xadd",
    "+xdel",
    "+del",
    "+ping",
    "+cluster|slots",
    "+cluster|shards",
    "+cluster|nodes",
    "+info",
    "+hello",
    "+readonly",
]


def _allow_client_setinfo(admin: RedisCluster, user: str, target: ClusterNode) -> None:
    """redis-rs names itself with CLIENT SETINFO on every connection and ignores the
    answer; refused, it leaves a denial in ACL LOG (Redis 6.2, 7.2+, Valkey). Redis 7.0
    has no such subcommand and refuses the rule."""
    try:
        admin.execute_command("ACL", "SETUSER", user, "+client|setinfo", target_nodes=target)
    except redis.ResponseError as refused:
        if "Unknown command" not in str(refused):
            raise


@pytest.fixture(scope="module")
def secured() -> Iterator[list[str]]:
    with ami.LocalCluster(masters=3, password=PASSWORD, server=SERVER) as cluster:
        for node in cluster.nodes:
            host, port = node.rsplit(":", 1)
            admin = RedisCluster(host=host, port=int(port), password=PASSWORD)
            target = admin.get_node(host=host, port=int(port))
            users = {
                "producer": PRODUCER_RULES,
                "consumer": CONSUMER_RULES,
                "operator": OPERATOR_RULES,
                "no-scripts": [*CONSUMER_RULES, "-eval"],
            }
            for user, rules in users.items():
                admin.execute_command("ACL", "SETUSER", user, *rules, target_nodes=target)
                _allow_client_setinfo(admin, user, target)
            admin.close()
        yield cluster.nodes


def test_password_round_trip(secured: list[str], queue: str) -> None:
    with ami.Producer(queue, nodes=secured, shards=3, password=PASSWORD) as producer:
        producer.send_many([b"a", b"b", b"c"])
    with ami.Consumer(queue, consumer="c", nodes=secured, shards=3, password=PASSWORD) as consumer:
        assert sorted(m.body for m in drain(consumer, 3)) == [b"a", b"b", b"c"]


@pytest.mark.parametrize("layout", ["go", "spread"])
def test_least_privilege_users_round_trip_without_denials(
    secured: list[str], queue: str, layout: str
) -> None:
    producer_url = [f"redis://producer:producer-pw@{node}" for node in secured]
    with ami.Producer(queue, nodes=producer_url, shards=3, layout=layout) as producer:
        producer.send_many([b"%d" % i for i in range(100)])
    with ami.Consumer(
        queue,
        consumer="c",
        nodes=secured,
        shards=3,
        layout=layout,
        username="consumer",
        password="consumer-pw",
    ) as consumer:
        assert len(drain(consumer, 100)) == 100
    assert _acl_denials(secured) == []


def test_a_user_refused_scripts_creates_a_spread_queue_unlisted(
    secured: list[str], queue: str
) -> None:
    host, port = secured[0].rsplit(":", 1)
    admin = RedisCluster(startup_nodes=[ClusterNode(host, int(port))], password=PASSWORD)
    options: dict[str, object] = {"nodes": secured, "shards": 3, "layout": "spread"}
    no_scripts = {"username": "no-scripts", "password": "consumer-pw"}
    try:
        with ami.Consumer(queue, consumer="a", **no_scripts, **options) as consumer:  # type: ignore[arg-type]
            record = admin.get(f"qu_{queue}_shards")
            assert record is not None and record.startswith(b"3 spread ")
            assert f"{queue} ".encode() not in (admin.get("qu_spread_offsets") or b"")
            streams = consumer.streams
        with ami.Producer(queue, password=PASSWORD, **options) as producer:  # type: ignore[arg-type]
            producer.send_many([b"x"] * 10)
        with ami.Consumer(queue, consumer="b", password=PASSWORD, **options) as consumer:  # type: ignore[arg-type]
            assert consumer.streams == streams
            assert len(drain(consumer, 10)) == 10
        assert f"{queue} {record.decode()}\n".encode() in admin.get("qu_spread_offsets")
    finally:
        admin.close()
        _acl_denials(secured)


def _acl_denials(secured: list[str]) -> list[object]:
    """The ACL LOG entries of every node, which are then cleared."""
    host, port = secured[0].rsplit(":", 1)
    admin = RedisCluster(startup_nodes=[ClusterNode(host, int(port))], password=PASSWORD)
    try:
        denials = admin.execute_command("ACL", "LOG", target_nodes=RedisCluster.ALL_NODES)
        admin.execute_command("ACL", "LOG", "RESET", target_nodes=RedisCluster.ALL_NODES)
    finally:
        admin.close()
    return [entry for entries in denials.values() for entry in entries]


def test_an_operator_user_inspects_tails_and_replays(secured: list[str], queue: str) -> None:
    _acl_denials(secured)
    with ami.Producer(queue, nodes=secured, shards=3, password=PASSWORD) as producer:
        producer.send_many([b"a", b"b", b"c"])
    with ami.Consumer(
        queue,
        consumer="c",
        nodes=secured,
        shards=3,
        password=PASSWORD,
        claim_idle=0.2,
        max_deliveries=1,
    ) as consumer:
        drain(consumer, 3, ack=False)
        wait_until(lambda: consumer.stats()["dead_lettered"] == 3, "three dead letters")
    operator: dict[str, object] = {"username": "operator", "password": "operator-pw"}

    stats = ami.inspect(queue, nodes=secured, **operator)  # type: ignore[arg-type]
    entries = list(ami.ops.tail(queue, nodes=secured, count=5, **operator))  # type: ignore[arg-type]
    with ami.DeadLetters(queue, nodes=secured, **operator) as dlq:  # type: ignore[arg-type]
        letters = dlq.list()
        replayed = dlq.replay()

    assert (stats.length, stats.dead_letters, len(stats.shards)) == (0, 3, 3)
    assert entries == []
    assert sorted(letter.body for letter in letters) == [b"a", b"b", b"c"]
    assert replayed == 3
    assert _acl_denials(secured) == []


def test_the_command_line_as_an_operator_user(
    secured: list[str],
    queue: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with ami.Producer(queue, nodes=secured, shards=3, password=PASSWORD) as producer:
        producer.send_many([b"one", b"two"])
    monkeypatch.setenv("AMI_PASSWORD", "operator-pw")
    seeds = ["--nodes", ",".join(secured), "--username", "operator"]
    _acl_denials(secured)

    assert cli.main(["stats", queue, "--json", *seeds]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert cli.main(["tail", queue, *seeds]) == 0
    tailed = capsys.readouterr().out
    assert cli.main(["dlq", "list", queue, *seeds]) == 0
    letters = capsys.readouterr().out

    assert (stats["length"], len(stats["shards"])) == (2, 3)
    assert sorted(line.split()[-1] for line in tailed.splitlines()) == ["one", "two"]
    assert letters == f"no dead letters in {queue}\n"
    assert _acl_denials(secured) == []
    assert "operator-pw" not in tailed + letters


def test_a_producer_user_sends_from_the_command_line(
    secured: list[str], queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMI_PASSWORD", "producer-pw")

    status = cli.main(["send", queue, "hi", "--nodes", ",".join(secured), "--username", "producer"])

    assert status == 0
    assert ami.inspect(queue, nodes=secured, password=PASSWORD).length == 1


def test_an_operator_with_a_wrong_password_fails_fast(secured: list[str], queue: str) -> None:
    with pytest.raises(ami.ConnectError) as raised:
        ami.inspect(queue, nodes=secured, username="operator", password="wr0ng-pw-never-shown")
    assert "wr0ng-pw-never-shown" not in str(raised.value)


def test_a_wrong_password_fails_fast_without_showing_it(secured: list[str], queue: str) -> None:
    wrong = "wr0ng-pw-never-shown"
    started = time.monotonic()
    with pytest.raises(ami.ConnectError) as raised:
        ami.Producer(queue, nodes=secured, password=wrong, connect_timeout=10.0)
    assert time.monotonic() - started < 5.0, "a refused password is not retried"
    assert wrong not in str(raised.value)
    assert wrong not in repr(raised.value)
    with pytest.raises(ami.ConnectError) as raised:
        ami.Consumer(queue, consumer="c", nodes=[f"redis://u:{wrong}@{secured[0]}"])
    assert wrong not in str(raised.value)
    assert wrong not in raised.value.nodes


def test_a_consumer_that_may_not_run_scripts_acks_with_xdel(secured: list[str], queue: str) -> None:
    with ami.Producer(queue, nodes=secured, shards=3, password=PASSWORD) as producer:
        producer.send_many([b"%d" % i for i in range(300)])
    seeds = [f"redis://no-scripts:consumer-pw@{node}" for node in secured]
    errors: list[ami.AmiError] = []
    with ami.Consumer(
        queue, consumer="c", nodes=seeds, shards=3, trim_acked=True, on_error=errors.append
    ) as c:
        assert len(drain(c, 300)) == 300
        assert c.flush(5.0) == 0
        assert c.stats()["acked"] == 300
    assert errors == []
    host, port = secured[0].rsplit(":", 1)
    admin = RedisCluster(startup_nodes=[ClusterNode(host, int(port))], password=PASSWORD)
    try:
        assert total_length(admin, queue, 3) == 0
    finally:
        admin.close()


def test_a_consumer_that_may_not_run_scripts_still_dead_letters(
    secured: list[str], queue: str
) -> None:
    with ami.Producer(queue, nodes=secured, shards=1, password=PASSWORD) as producer:
        producer.send(b"poison")
    seeds = [f"redis://no-scripts:consumer-pw@{node}" for node in secured]
    with ami.Consumer(
        queue, consumer="c", nodes=seeds, shards=1, claim_idle=0.1, max_deliveries=1
    ) as consumer:
        [message] = consumer.consume(1, timeout=5.0)  # never acked: the handler failed
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and consumer.stats()["dead_lettered"] == 0:
            assert consumer.consume(1, timeout=0.1) == []
        assert consumer.stats()["dead_lettered"] == 1
    host, port = secured[0].rsplit(":", 1)
    admin = RedisCluster(startup_nodes=[ClusterNode(host, int(port))], password=PASSWORD)
    try:
        [(_, fields)] = admin.xrange(f"qu{{0}}:dlq:{queue}")
        assert total_length(admin, queue, 1) == 0
    finally:
        admin.close()
    assert fields[b"m"] == b"poison"
    assert fields[b"id"].decode() == message.id
    assert int(fields[b"deliveries"]) == 1


@pytest.mark.parametrize("user", ["consumer", "no-scripts"])
def test_a_least_privilege_consumer_nacks(secured: list[str], queue: str, user: str) -> None:
    _acl_denials(secured)
    with ami.Producer(queue, nodes=secured, shards=1, password=PASSWORD) as producer:
        producer.send(b"again")
    seeds = [f"redis://{user}:consumer-pw@{node}" for node in secured]
    with ami.Consumer(queue, consumer="c", nodes=seeds, shards=1) as consumer:
        [first] = consumer.consume(1, timeout=5.0)
        assert consumer.nack(first) is True
        [again] = consumer.consume(1, timeout=5.0)
        assert (again.id, again.deliveries) == (first.id, 2)
        consumer.ack(again)
        assert consumer.flush(5.0) == 0
        assert consumer.nack(again) is False
    denials = _acl_denials(secured)
    if user == "consumer":
        assert denials == []
