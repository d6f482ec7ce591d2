"""nack through network faults: a reply lost on the wire, a master that stops answering.
Whatever the nack's caller is told, the message is delivered again and never lost."""

from __future__ import annotations

import time
import uuid

import pytest

from ami import AmiError, Consumer, Producer
from faults.netproxy import proxied_cluster
from helpers import drain


def test_a_nack_whose_reply_is_lost_still_hands_the_message_back() -> None:
    queue = f"nack{uuid.uuid4().hex[:8]}"
    with proxied_cluster() as proxy:
        with Producer(queue, nodes=proxy.seeds, shards=1) as producer:
            producer.send(b"job")
        with Consumer(queue, consumer="a", nodes=proxy.seeds, shards=1) as alice:
            [message] = drain(alice, 1, ack=False)
            alice.stop()
            proxy.cut_after_reply(proxy.holder(message.stream), message.id.encode())
            with pytest.raises(AmiError):
                alice.nack(message)
            # The script ran; only its answer was lost: any claimer takes the message.
            with Consumer(queue, consumer="b", nodes=proxy.seeds, shards=1, claim_idle=0.4) as bob:
                [again] = drain(bob, 1, idle=5.0)
                assert bob.flush(5.0) == 0
        assert proxy.nodes[proxy.holder(message.stream)].cuts == 1
    assert (again.id, again.body, again.deliveries) == (message.id, b"job", 2)


def test_a_nack_to_a_stalled_master_fails_in_time_and_loses_nothing() -> None:
    queue = f"nack{uuid.uuid4().hex[:8]}"
    with proxied_cluster() as proxy:
        with Producer(queue, nodes=proxy.seeds, shards=1) as producer:
            producer.send(b"job")
        options = {"nodes": proxy.seeds, "shards": 1, "response_timeout": 1.0}
        with Consumer(queue, consumer="a", **options) as alice:  # type: ignore[arg-type]
            [message] = drain(alice, 1, ack=False)
            alice.stop()
            holder = proxy.holder(message.stream)
            proxy.stall(holder)
            started = time.monotonic()
            with pytest.raises(AmiError):
                alice.nack(message)
            waited = time.monotonic() - started
            proxy.resume(holder)
            # Applied or not, the message is still pending: a claimer gets it back.
            with Consumer(queue, consumer="b", claim_idle=0.4, **options) as bob:  # type: ignore[arg-type]
                [again] = drain(bob, 1, idle=5.0)
                assert bob.flush(5.0) == 0
    assert (again.id, again.body) == (message.id, b"job")
    print(f"nack to a stalled master: raised after {waited:.2f} s")
