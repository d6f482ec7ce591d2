"""Raising a live queue's shard count.

Growing keeps every existing shard stream a shard of the new count, so what they hold
is still read: the Go layout grows to any larger count, the spread layout to whole
multiples (10 to 20, 30, ...), since shard ``i`` of ``N`` sits on the slot of shard
``k*i`` of ``k*N``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ami.ops._admin import open_admin

if sys.version_info >= (3, 11):
    from typing import Unpack
elif TYPE_CHECKING:
    from typing_extensions import Unpack

if TYPE_CHECKING:
    from ami._options import ConnectionOptions

__all__ = ["grow"]


def grow(name: str, shards: int, **options: Unpack[ConnectionOptions]) -> int:
    """Raise queue `name`'s shard count to `shards`.

    The new shard streams get the queue's consumer group first (at ``$``, on empty
    streams, so nothing written to them is skipped), then the count recorded in
    ``qu_NAME_shards`` changes. Clients started afterwards must use the new count; those
    running keep theirs, so replace them (a rolling restart, consumers first): old
    producers write only to streams that are still shards, and old consumers read
    only those, so nothing is lost meanwhile. Keyed sends map a key to a shard by the
    count: across the change, a key's messages may sit on two shards and be handled
    out of order.

    Args:
        name: The queue name.
        shards: The new count: larger than the recorded one and, in the spread layout,
            a multiple of it.
        **options: How to connect, as for `ami.Producer`.

    Returns:
        The count the queue had before.

    Raises:
        ConfigError: `shards` is not a count the queue can grow to, or the record
            changed meanwhile (another operator grew it).
        ConnectError: The cluster could not be reached.
        ServerError: Redis refused a command (e.g. scripts are not allowed).
    """
    admin = open_admin(name, None, **options)
    try:
        before = admin.shards
        admin.grow(shards)
    finally:
        admin.close()
    return before
