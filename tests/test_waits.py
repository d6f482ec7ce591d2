"""Waits release the GIL and give way to Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import ami

BLOCKED_CONSUMER = """
import sys, ami
consumer = ami.Consumer(sys.argv[1], consumer="c", nodes=sys.argv[2].split(","), shards=1)
try:
    print("waiting", flush=True)
    consumer.consume(timeout=None)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    consumer.close()
"""


def test_ctrl_c_interrupts_a_consumer_waiting_forever(nodes: list[str], queue: str) -> None:
    command = [sys.executable, "-c", BLOCKED_CONSUMER, queue, ",".join(nodes)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "waiting"
            child.send_signal(signal.SIGINT)
            assert child.wait(timeout=10) == 0
            assert child.stdout.read().strip() == "interrupted"
        finally:
            child.kill()


def test_other_threads_run_while_a_consumer_waits(nodes: list[str], queue: str) -> None:
    ticks = 0
    done = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1

    with ami.Consumer(queue, consumer="c", nodes=nodes, shards=1) as consumer:
        counter = threading.Thread(target=count)
        counter.start()
        ticks_before = ticks
        assert consumer.consume(timeout=0.5) == []
        ticks_during = ticks - ticks_before
        done.set()
        counter.join()
    # Holding the GIL for the wait would leave the counting thread a few switches at most.
    assert ticks_during > 100_000
