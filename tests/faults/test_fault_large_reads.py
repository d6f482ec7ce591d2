"""Reads grown large (a consumer draining a backlog as fast as it arrives), with more
sent ahead, lose nothing when a reply is lost on the wire: the cut takes the replies
behind it too, and the reader re-reads its own pending entries."""

from __future__ import annotations

import uuid

from ami import Consumer, Producer
from faults.netproxy import proxied_cluster
from helpers import drain

TOTAL = 60_000
# Reads grow 100, 1,600, 16,384, ...: the reply holding this body is a grown one.
CUT_AT = 40_000


def test_a_lost_large_read_reply_is_delivered_exactly_once() -> None:
    queue = f"large{uuid.uuid4().hex[:8]}"
    stream = f"qu{{0}}_{queue}"
    bodies = [b"%d" % i for i in range(TOTAL)]
    bodies[CUT_AT] = b"cut-after-this-reply"
    with proxied_cluster() as proxy:
        with Producer(queue, nodes=proxy.seeds, shards=1) as producer:
            producer.send_many(bodies)
        holder = proxy.holder(stream)
        proxy.cut_after_reply(holder, bodies[CUT_AT])
        with Consumer(
            queue, consumer="c", nodes=proxy.seeds, shards=1, claim_idle=None
        ) as consumer:
            received = drain(consumer, TOTAL, idle=10.0)
            retried = consumer.stats()["retried"]
        assert proxy.nodes[holder].cuts == 1
    again = sum(1 for m in received if m.deliveries > 1)
    print(f"lost large read reply: {again:,} entries read again, {retried} retried")
    assert sorted(m.body for m in received) == sorted(bodies)
    assert retried >= 1
    assert again > 100, "the lost read should have grown past prefetch_count"
