"""End-to-end benchmark: ``python -m ami bench``.

Measures, against a local 3-master cluster it starts (or the one given), the rate at
which ami produces and consumes compared with a hand-written redis-py client and with
``redis-benchmark`` (the server's own ceiling), plus the client's memory per buffered
message, the end-to-end latency at a steady rate, the client's CPU time per message
next to redis-py's and valkey-glide's, and the rates with the servers at a distance
(a local cluster only). Prints a table and writes JSON (and a PNG when
matplotlib is available).

One job per module: ``config`` (what to run), ``admin`` (queue names and clean-up),
``ceiling``, ``redis_py``, ``ami_runs``, ``rss`` (with its child process
``rss_child``), ``latency``, ``cpu_cost`` (with its child process ``cpu_child`` and
the valkey-glide client of ``glide_runs``), ``distance`` (the measurements),
``delay_proxy`` (with its child process ``delay_proxy_child``),
``progress``, ``report``, ``plot`` and ``runner`` (which ties them together).
"""

from ami.bench.config import BenchConfig
from ami.bench.runner import run

__all__ = ["BenchConfig", "run"]
