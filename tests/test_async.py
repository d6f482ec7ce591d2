"""The asyncio twins pass the same round trips as the sync classes."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import pytest
from redis.cluster import RedisCluster

import ami
from helpers import total_length, total_pending


async def drain_async(consumer: ami.AsyncConsumer, expected: int) -> list[ami.Message]:
    received: list[ami.Message] = []
    while len(received) < expected:
        batch = await consumer.consume(10_000, timeout=5.0)
        if not batch:
            break
        received += batch
        await consumer.ack_many(batch)
    return received


def test_async_round_trip(nodes: list[str], redis_client: RedisCluster, queue: str) -> None:
    bodies = [b"%d" % i for i in range(20_000)]

    async def main() -> list[ami.Message]:
        async with ami.AsyncProducer(queue, nodes=nodes, shards=4) as producer:
            await producer.send_many(bodies[:-1])
            await producer.send(bodies[-1])
            assert await producer.flush(timeout=10) == 0
        async with ami.AsyncConsumer(queue, consumer="a", nodes=nodes, shards=4) as consumer:
            return await drain_async(consumer, len(bodies))

    received = asyncio.run(main())
    assert sorted(m.body for m in received) == sorted(bodies)
    assert total_length(redis_client, queue, 4) == 0


def test_async_iteration_until_stop(nodes: list[str], queue: str) -> None:
    async def main() -> list[str]:
        async with ami.AsyncProducer(queue, nodes=nodes, shards=2) as producer:
            await producer.send_many([f"m{i}" for i in range(30)])
        seen = []
        async with ami.AsyncConsumer(
            queue, consumer="it", nodes=nodes, shards=2, block=0.1
        ) as consumer:
            async for message in consumer:
                seen.append(message.text)
                await consumer.ack(message)
                if len(seen) == 30:
                    consumer.stop()
        return seen

    assert sorted(asyncio.run(main())) == sorted(f"m{i}" for i in range(30))


def test_many_tasks_share_one_producer(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    async def main() -> None:
        async with ami.AsyncProducer(queue, nodes=nodes, shards=4) as producer:

            async def task(part: int) -> None:
                for i in range(500):
                    await producer.send(b"%d-%d" % (part, i))
                    if i % 100 == 0:
                        await asyncio.sleep(0)

            await asyncio.gather(*(task(p) for p in range(20)))

    asyncio.run(main())
    assert total_length(redis_client, queue, 4) == 10_000


def test_cancelled_consume_calls_lose_nothing(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    bodies = [b"%d" % i for i in range(1_000)]

    async def main() -> list[ami.Message]:
        async with ami.AsyncProducer(queue, nodes=nodes, shards=2) as producer:
            await producer.send_many(bodies)
        async with ami.AsyncConsumer(queue, consumer="c", nodes=nodes, shards=2) as consumer:
            for _ in range(5):
                waiting = asyncio.create_task(consumer.consume(10, timeout=30.0))
                await asyncio.sleep(0)
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
            # A batch fetched for a cancelled call is handed to the next one.
            return await drain_async(consumer, len(bodies))

    received = asyncio.run(main())
    assert Counter(m.body for m in received) == Counter(bodies)
    assert total_pending(redis_client, queue, 2) == 0


def test_a_cancelled_worker_leaves_its_messages_pending(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    bodies = [b"%d" % i for i in range(100)]

    async def main() -> list[ami.Message]:
        async with ami.AsyncProducer(queue, nodes=nodes, shards=2) as producer:
            await producer.send_many(bodies)
        held: list[ami.Message] = []

        async def worker(consumer: ami.AsyncConsumer) -> None:
            async for message in consumer:
                held.append(message)
                if len(held) == 10:
                    await asyncio.sleep(3600)

        async with ami.AsyncConsumer(queue, consumer="w", nodes=nodes, shards=2) as consumer:
            task = asyncio.create_task(worker(consumer))
            while len(held) < 10:
                await asyncio.sleep(0.01)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert total_pending(redis_client, queue, 2) >= 10
        async with ami.AsyncConsumer(queue, consumer="w", nodes=nodes, shards=2) as consumer:
            return await drain_async(consumer, len(bodies))

    received = asyncio.run(main())
    assert Counter(m.body for m in received) == Counter(bodies)


def test_everything_is_written_when_asyncio_run_returns(
    nodes: list[str], redis_client: RedisCluster, queue: str
) -> None:
    async def main() -> None:
        async with ami.AsyncProducer(queue, nodes=nodes, shards=3, pipe_period=1.0) as producer:
            await producer.send_many([b"x"] * 5_000)

    asyncio.run(main())
    assert total_length(redis_client, queue, 3) == 5_000


def test_async_clients_refuse_use_before_start(queue: str) -> None:
    producer = ami.AsyncProducer(queue, nodes=["127.0.0.1:1"], connect_timeout=1.0)
    with pytest.raises(ami.ClientClosedError):
        asyncio.run(producer.send(b"x"))
    with pytest.raises(ami.ConnectError):
        asyncio.run(producer.start())
