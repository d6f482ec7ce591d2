"""Network faults through a proxy in front of every node: a reply lost on the wire, a
master that stops answering without closing its connections, a connection cut."""

from __future__ import annotations

import time
import uuid
from collections import Counter

from ami import AmiError, Consumer, Producer, TransientError
from faults.chaos import command, node
from faults.netproxy import ClusterProxy, proxied_cluster
from helpers import drain, wait_until


def test_a_lost_read_reply_is_read_again_within_seconds() -> None:
    queue = f"lost{uuid.uuid4().hex[:8]}"
    stream = f"qu{{0}}_{queue}"
    with proxied_cluster() as proxy:
        with Consumer(
            queue, consumer="c", nodes=proxy.seeds, shards=1, claim_idle=None
        ) as consumer:
            holder = proxy.holder(stream)
            wait_until(lambda: blocked_reads(holder) > 0, "the reader's blocking read")
            proxy.cut_after_reply(holder, stream.encode())
            with Producer(queue, nodes=proxy.seeds, shards=1) as producer:
                producer.send_many([b"%d" % i for i in range(100)])
            started = time.monotonic()
            received = drain(consumer, 100, idle=10.0)
            recovered_in = time.monotonic() - started
        assert proxy.nodes[proxy.holder(stream)].cuts == 1
    assert sorted(int(m.body) for m in received) == list(range(100))
    print(f"lost read reply: 100 of 100 back in {recovered_in:.2f} s")


SHARDS = 10


def blocked_reads(address: str) -> int:
    """Clients of the node at `address` blocked in XREADGROUP."""
    with node(address) as client:
        clients = client.client_list()
    return sum(1 for c in clients if c["cmd"] == "xreadgroup" and "b" in c["flags"])


def shard_holders(proxy: ClusterProxy, queue: str) -> tuple[str, dict[int, str]]:
    """The master holding most shards, and the real address holding every other one."""
    holders = {shard: proxy.holder(f"qu{{{shard}}}_{queue}") for shard in range(SHARDS)}
    crowded = Counter(holders.values()).most_common(1)[0][0]
    return crowded, {shard: node for shard, node in holders.items() if node != crowded}


def written(queue: str, healthy: dict[int, str]) -> int:
    return sum(int(command(node, "XLEN", f"qu{{{s}}}_{queue}")) for s, node in healthy.items())


def pending(queue: str, healthy: dict[int, str]) -> int:
    group = f"qu_{queue}_group"
    return sum(
        int(command(node, "XPENDING", f"qu{{{s}}}_{queue}", group)["pending"])
        for s, node in healthy.items()
    )


def send_paced(producer: Producer, seconds: float, per_second: int) -> None:
    tick = 0.01
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        producer.send_many([b"x"] * int(per_second * tick))
        time.sleep(tick)


def test_a_stalled_master_slows_only_its_own_shards_writes() -> None:
    queue = f"stall{uuid.uuid4().hex[:8]}"
    with proxied_cluster() as proxy:
        crowded, healthy = shard_holders(proxy, queue)
        with Producer(queue, nodes=proxy.seeds, shards=SHARDS, pipe_buffer_size=100) as producer:
            send_paced(producer, 2.0, 3000)
            assert producer.flush(10.0) == 0
            normal = written(queue, healthy)
            proxy.stall(crowded)
            send_paced(producer, 2.0, 3000)
            time.sleep(0.5)
            during = written(queue, healthy) - normal
            proxy.resume(crowded)
            assert producer.flush(60.0) == 0
    print(f"stalled master: healthy shards got {during:,} writes, {normal:,} without the stall")
    assert during >= normal * 2 / 3


def test_a_stalled_master_holds_up_only_its_own_shards_acks() -> None:
    queue = f"stall{uuid.uuid4().hex[:8]}"
    with proxied_cluster() as proxy:
        crowded, healthy = shard_holders(proxy, queue)
        # Small batches, so every shard gets messages.
        with Producer(queue, nodes=proxy.seeds, shards=SHARDS, pipe_buffer_size=100) as producer:
            producer.send_many([b"x"] * 4000)
        with Consumer(queue, consumer="c", nodes=proxy.seeds, shards=SHARDS) as consumer:
            received = drain(consumer, 4000, ack=False)
            assert len(received) == 4000
            healthy_streams = {f"qu{{{shard}}}_{queue}" for shard in healthy}
            proxy.stall(crowded)
            # The stalled master's acks first: the healthy ones must not wait behind them.
            consumer.ack_many(m for m in received if m.stream not in healthy_streams)
            wait_until(lambda: proxy.holds(crowded, b"XACK"), "the stalled master's acks")
            consumer.ack_many(m for m in received if m.stream in healthy_streams)
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline and pending(queue, healthy):
                time.sleep(0.1)
            left = pending(queue, healthy)
            # Reads of the healthy shards go on as well.
            for shard, node in healthy.items():
                for _ in range(100):
                    command(node, "XADD", f"qu{{{shard}}}_{queue}", "*", "m", "new")
            started = time.monotonic()
            fresh = drain(consumer, 100 * len(healthy), idle=5.0)
            read_in = time.monotonic() - started
            proxy.resume(crowded)
            consumer.ack_many(fresh)
            assert consumer.flush(60.0) == 0
    print(
        f"stalled master: {left} acks of healthy shards unwritten after 5 s; "
        f"{len(fresh)} new messages of healthy shards read in {read_in:.2f} s"
    )
    assert left == 0
    assert len(fresh) == 100 * len(healthy)


def test_a_cut_connection_is_retried_counted_and_reported_as_transient() -> None:
    queue = f"cut{uuid.uuid4().hex[:8]}"
    stream = f"qu{{0}}_{queue}"
    errors: list[AmiError] = []
    with proxied_cluster() as proxy:
        holder = proxy.holder(stream)
        with Producer(queue, nodes=proxy.seeds, shards=1, on_error=errors.append) as producer:
            proxy.cut_after_reply(holder, b"-0\r\n")
            producer.send_many([b"%d" % i for i in range(1000)])
            assert producer.flush(30.0) == 0
            retried = producer.stats()["retried"]
        length = int(command(holder, "XLEN", stream))
    transient = [e for e in errors if isinstance(e, TransientError)]
    print(f"cut connection: {retried} retried, {length - 1000} duplicates, {transient[:1]}")
    assert retried >= 1
    assert length >= 1000
    assert transient, errors
    assert transient[0].command == "XADD"
    assert transient[0].node == f"127.0.0.1:{proxy.nodes[holder].port}"
    assert "will be retried" in str(transient[0])
