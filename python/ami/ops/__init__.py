"""Operating a queue from outside its producers and consumers.

Everything here goes through the Rust core's admin handle, with the clients' own
connection options (seeds, TLS, ACL user and password, timeouts).
"""

from ami.ops.dead_letters import DeadLetter, DeadLetters, parse_id
from ami.ops.grow import grow
from ami.ops.inspect import ConsumerStats, QueueStats, ShardStats, inspect
from ami.ops.tail import TailEntry, tail

__all__ = [
    "ConsumerStats",
    "DeadLetter",
    "DeadLetters",
    "QueueStats",
    "ShardStats",
    "TailEntry",
    "grow",
    "inspect",
    "parse_id",
    "tail",
]
