"""The newest entries of a queue, then the ones written after them, as ``ami tail``
prints them. It reads with ``XRANGE``: nothing is taken from the consumer group.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from ami.exceptions import QueueNotFoundError
from ami.ops._admin import open_admin
from ami.ops._json import headers_to_json, text_or_base64

if sys.version_info >= (3, 11):
    from typing import Unpack
elif TYPE_CHECKING:
    from typing_extensions import Unpack

if TYPE_CHECKING:
    from ami._options import ConnectionOptions, Layout

__all__ = ["TailEntry", "tail"]

# Entries read per shard and round while following.
READ_BATCH = 1_000


class TailEntry(NamedTuple):
    """One queue entry.

    Attributes:
        shard: The shard it is in.
        id: Its stream id, ``MILLIS-SEQ``.
        body: Field ``m``; None for an entry without one.
        headers: Its headers (fields ``h:NAME``), empty for most entries.
        stream: The shard's stream key.
    """

    shard: int
    id: str
    body: bytes | None
    headers: dict[str, bytes]
    stream: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The entry as plain values, ready for `json.dumps`.

        Returns:
            A dict with the attributes as keys. ``body`` is text if it is valid UTF-8,
            else its base64 encoding, and ``body_base64`` says which (``body`` is None
            for an entry without field ``m``); the same for the values of ``headers``
            and ``headers_base64``.
        """
        body, encoded = (None, False) if self.body is None else text_or_base64(self.body)
        headers, headers_encoded = headers_to_json(self.headers)
        return {
            "stream": self.stream,
            "shard": self.shard,
            "id": self.id,
            "body": body,
            "body_base64": encoded,
            "headers": headers,
            "headers_base64": headers_encoded,
        }


def tail(
    name: str,
    *,
    count: int = 10,
    follow: bool = False,
    poll_interval: float = 0.1,
    shards: int | None = None,
    layout: Layout | None = None,
    missing_ok: bool = True,
    **options: Unpack[ConnectionOptions],
) -> Iterator[TailEntry]:
    """The `count` newest entries over all shards, oldest first; then, with `follow`,
    each entry written after them, until the caller stops iterating.

    Entries of different shards are ordered by id, which is roughly by time.

    Args:
        name: The queue name.
        count: How many of the newest entries come first.
        follow: Keep yielding entries as they are written.
        poll_interval: Seconds to wait after a round that found nothing new.
        shards: As for `ami.inspect`.
        layout: As for `ami.inspect`.
        missing_ok: False raises `QueueNotFoundError` for a queue that left no trace
            (no recorded shard count, no stream, no dead letters) instead of waiting
            for it to appear.
        **options: How to connect, as for `ami.Producer`.

    Yields:
        The entries.

    Raises:
        ConfigError: An argument or option is invalid.
        ConnectError: The cluster could not be reached.
        QueueNotFoundError: The queue left no trace, and `missing_ok` is False.
        ServerError: Redis refused a command, e.g. a shard key is not a stream.
    """
    admin = open_admin(name, shards, layout, **options)
    try:
        if not missing_ok and not admin.exists():
            raise QueueNotFoundError(f"queue {name!r} does not exist", name)
        newest, cursors = admin.newest(count)
        streams = [admin.stream(shard) for shard in range(admin.shards)]
        yield from (TailEntry(*row, streams[row[0]]) for row in newest)
        while follow:
            read, cursors = admin.after(cursors, READ_BATCH)
            yield from (TailEntry(*row, streams[row[0]]) for row in read)
            if not read:
                time.sleep(poll_interval)
    finally:
        admin.close()
