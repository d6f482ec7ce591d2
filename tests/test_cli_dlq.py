"""``ami dlq list`` reports what happened to a message: the deliveries it really had."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter

import pytest

import ami
from ami import cli

SHARDS = 2
MAX_DELIVERIES = 2
BODIES = [b"poison-0", b"poison-1", b"poison-2"]


def _fail_until_dead_lettered(nodes: list[str], queue: str, bodies: list[bytes]) -> Counter[bytes]:
    """Let a consumer whose handler never acks dead-letter every body.

    Returns:
        How many times the application got each body.
    """
    with ami.Producer(queue, nodes=nodes, shards=SHARDS) as producer:
        producer.send_many(bodies)
    received: Counter[bytes] = Counter()
    with ami.Consumer(
        queue,
        consumer="c",
        nodes=nodes,
        shards=SHARDS,
        claim_idle=0.2,
        max_deliveries=MAX_DELIVERIES,
        on_error=lambda error: None,  # each dead letter is reported: expected here
    ) as consumer:
        deadline = time.monotonic() + 20.0
        while time.monotonic() < deadline and consumer.stats()["dead_lettered"] < len(bodies):
            received.update(message.body for message in consumer.consume(100, timeout=0.2))
        assert consumer.stats()["dead_lettered"] == len(bodies)
    return received


@pytest.fixture(scope="module")
def dead_lettered(nodes: list[str]) -> tuple[list[str], Counter[bytes]]:
    """A queue whose messages were dead-lettered for real: the ``dlq list`` arguments,
    and how many times the application got each body."""
    queue = f"t{uuid.uuid4().hex[:12]}"
    received = _fail_until_dead_lettered(nodes, queue, BODIES)
    return ["dlq", "list", queue, "--nodes", ",".join(nodes), "--shards", str(SHARDS)], received


def _listed(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, int], ...]:
    """Deliveries by body, as ``--json`` shows them and as the table does."""
    assert cli.main([*args, "--json"]) == 0
    letters = json.loads(capsys.readouterr().out)
    assert cli.main(args) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    return (
        {letter["body"]: letter["deliveries"] for letter in letters},
        {row[6]: int(row[2]) for row in rows},
    )


def test_list_shows_the_deliveries_written_in_the_dead_letter(
    dead_lettered: tuple[list[str], Counter[bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    args, received = dead_lettered
    assert received == dict.fromkeys(BODIES, MAX_DELIVERIES)

    in_json, in_table = _listed(args, capsys)

    assert in_table == in_json
    assert sorted(in_json) == [body.decode() for body in BODIES]


def test_list_shows_the_deliveries_the_application_got(
    dead_lettered: tuple[list[str], Counter[bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    args, received = dead_lettered

    in_json, _ = _listed(args, capsys)

    assert in_json == {body.decode(): count for body, count in received.items()}
