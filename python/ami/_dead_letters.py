"""Dead letters: list, count, replay and purge what consumers gave up on.

A consumer with `max_deliveries` moves an entry delivered too often from its shard
stream ``qu{i}_NAME`` to the dead-letter stream ``qu{i}:dlq:NAME`` (same hash slot),
with the fields ``m`` (body), ``reason``, ``deliveries``, ``id`` and ``stream``::

    with ami.DeadLetters("orders", nodes="127.0.0.1:7001", shards=10) as dlq:
        for letter in dlq.list(limit=20):
            print(letter.shard, letter.id, letter.reason, letter.body)
        dlq.replay()  # every dead letter back into the queue

Each shard stream generates its own ids, so the same dead-letter id can exist in two
shards. Methods that take ids accept ``"ID"`` (looked up in every shard) or
``"SHARD:ID"`` (only that shard); an ``"ID"`` found in more than one shard is refused.
"""

from __future__ import annotations

import base64
import builtins
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._cluster_client import ClusterClient
from ._inspect import dead_letter_stream, stream_name, validate_name, validate_shards
from ._resp import Reply
from .exceptions import ClientClosedError, ConfigError

if TYPE_CHECKING:
    from typing import Self

__all__ = ["DeadLetter", "DeadLetters"]

# How many dead letters `replay()` and `purge()` read per command when taking them all.
BATCH = 500

_ID = re.compile(r"(?:(\d+):)?(\d+)-(\d+)")
_MAX_SEQ = 2**64 - 1

# Moves one dead letter back into its shard stream as a fresh entry, unless it is gone
# already (replayed or purged by someone else) or has no body: then nothing is written
# and 0 returned. The check comes first, and XADD before XDEL, because a script is not
# rolled back when a command fails: the only copy must not be deleted before it is added.
_REPLAY_SCRIPT = """\
local found = redis.call('XRANGE', KEYS[2], ARGV[2], ARGV[2])
if #found == 0 then
  return 0
end
local fields = found[1][2]
local has_body = false
for i = 1, #fields, 2 do
  if fields[i] == 'm' then
    has_body = true
  end
end
if not has_body then
  return 0
end
redis.call('XADD', KEYS[1], '*', 'm', ARGV[1])
redis.call('XDEL', KEYS[2], ARGV[2])
return 1
"""

# Deletes a dead-letter stream and returns how many entries it had, atomically.
_PURGE_SCRIPT = """\
local length = redis.call('XLEN', KEYS[1])
redis.call('DEL', KEYS[1])
return length
"""


@dataclass(frozen=True)
class DeadLetter:
    """One entry of a dead-letter stream.

    Attributes:
        id: Its id in the dead-letter stream (what `DeadLetters.replay` and
            `DeadLetters.purge` take).
        dead_letter_stream: The dead-letter stream, ``qu{i}:dlq:NAME``.
        shard: The shard number ``i``.
        body: The message body (field ``m``).
        reason: Why it was dead-lettered, e.g. ``"max_deliveries"``.
        deliveries: How many times it had been delivered.
        original_id: Its id in the shard stream.
        original_stream: The shard stream it was taken from, ``qu{i}_NAME``.
    """

    id: str
    dead_letter_stream: str
    shard: int
    body: bytes
    reason: str
    deliveries: int
    original_id: str
    original_stream: str

    def to_dict(self) -> dict[str, Any]:
        """The dead letter as plain values, ready for `json.dumps`.

        Returns:
            A dict with the attributes as keys. ``body`` is text if it is valid UTF-8,
            else its base64 encoding, and ``body_base64`` says which.
        """
        try:
            body, encoded = self.body.decode("utf-8"), False
        except UnicodeDecodeError:
            body, encoded = base64.b64encode(self.body).decode("ascii"), True
        return {
            "id": self.id,
            "dead_letter_stream": self.dead_letter_stream,
            "shard": self.shard,
            "body": body,
            "body_base64": encoded,
            "reason": self.reason,
            "deliveries": self.deliveries,
            "original_id": self.original_id,
            "original_stream": self.original_stream,
        }


class DeadLetters:
    """The dead-letter streams of a queue: count, list, replay and purge.

    Connects when created; use it as a context manager or call `close`. Safe to use
    while producers and consumers run.

    Args:
        name: The queue name.
        nodes: Seed nodes: ``"host:port"`` strings, a comma-separated string, or
            ``redis://`` URLs. A standalone (non-cluster) server works too.
        shards: The queue's number of shards; must match its producers and consumers.
        timeout: Seconds for connecting and for each command.

    Raises:
        ConfigError: `name`, `shards`, `timeout` or `nodes` is invalid.
        ConnectError: The cluster could not be reached.
    """

    def __init__(
        self, name: str, *, nodes: str | Iterable[str], shards: int = 10, timeout: float = 5.0
    ) -> None:
        validate_name(name)
        validate_shards(shards)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ConfigError(
                f"invalid timeout: must be greater than 0, got {timeout!r}", "timeout"
            )
        self.name = name
        self.shards = shards
        self._streams = [stream_name(name, shard) for shard in range(shards)]
        self._client: ClusterClient | None = ClusterClient(nodes, timeout=timeout)

    def count(self) -> int:
        """How many dead letters the queue has, over all shards.

        Returns:
            The sum of the dead-letter streams' lengths; a missing stream counts 0.

        Raises:
            ClientClosedError: `close` was called.
            ConnectError: A node could not be reached.
            ServerError: Redis refused a command, e.g. a key is not a stream.
        """
        client = self._open()
        return sum(_as_int(client.command(dlq, "XLEN", dlq)) for dlq in self._dead_letter_streams())

    def list(self, limit: int = 100) -> builtins.list[DeadLetter]:
        """The oldest dead letters over all shards, without removing them.

        Args:
            limit: At most this many are returned.

        Returns:
            Dead letters ordered by id (roughly the time they were dead-lettered),
            oldest first; empty if the queue has none.

        Raises:
            ConfigError: `limit` is negative or not an int.
            ClientClosedError: `close` was called.
            ConnectError: A node could not be reached.
            ServerError: Redis refused a command, e.g. a key is not a stream.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise ConfigError(f"invalid limit: must be a non-negative int, got {limit!r}", "limit")
        client = self._open()
        if limit == 0:
            return []
        letters = []
        for shard in range(self.shards):
            letters += self._range(client, shard, "-", "+", limit)
        letters.sort(key=_order)
        return letters[:limit]

    def replay(self, ids: Iterable[str] | None = None) -> int:
        """Put dead letters back into the queue and remove them from the dead letters.

        Each one is added to its shard stream as a new entry with just its body (so it
        gets a new id and a fresh delivery count) and deleted from the dead-letter
        stream in the same atomic script. Dead letters added while replaying all are
        left alone, so a message that fails again is not replayed in a loop.

        Args:
            ids: Dead-letter ids, as ``"ID"`` or ``"SHARD:ID"``; ids not found, and
                entries without a body (field ``m``), are skipped. None replays every
                dead letter, in batches.

        Returns:
            How many dead letters were replayed.

        Raises:
            ConfigError: An id is malformed, names a shard the queue does not have, or
                is found in more than one shard without ``SHARD:``. Nothing is
                replayed then.
            ClientClosedError: `close` was called.
            ConnectError: A node could not be reached.
            ServerError: Redis refused a command; dead letters replayed before it stay
                replayed.
        """
        client = self._open()
        letters = self._all(client) if ids is None else iter(self._find(client, ids))
        return sum(self._replay_one(client, letter) for letter in letters)

    def purge(self, ids: Iterable[str] | None = None) -> int:
        """Delete dead letters for good.

        Args:
            ids: Dead-letter ids, as ``"ID"`` or ``"SHARD:ID"``; ids not found are
                skipped. None deletes every dead-letter stream of the queue.

        Returns:
            How many dead letters were deleted.

        Raises:
            ConfigError: An id is malformed, names a shard the queue does not have, or
                is found in more than one shard without ``SHARD:``. Nothing is deleted
                then.
            ClientClosedError: `close` was called.
            ConnectError: A node could not be reached.
            ServerError: Redis refused a command, e.g. a key is not a stream.
        """
        client = self._open()
        if ids is None:
            return sum(
                _as_int(client.command(dlq, "EVAL", _PURGE_SCRIPT, 1, dlq))
                for dlq in self._dead_letter_streams()
            )
        by_stream: dict[str, builtins.list[str]] = {}
        for letter in self._find(client, ids):
            by_stream.setdefault(letter.dead_letter_stream, []).append(letter.id)
        removed = 0
        for dlq, found in by_stream.items():
            for start in range(0, len(found), BATCH):
                removed += _as_int(client.command(dlq, "XDEL", dlq, *found[start : start + BATCH]))
        return removed

    def close(self) -> None:
        """Close the connections; safe to call more than once."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._client is None else "open"
        return f"DeadLetters({self.name!r}, shards={self.shards}, {state})"

    # ----------------------------------------------------------------- internals

    def _open(self) -> ClusterClient:
        if self._client is None:
            raise ClientClosedError("DeadLetters is closed")
        return self._client

    def _dead_letter_streams(self) -> builtins.list[str]:
        return [dead_letter_stream(stream) for stream in self._streams]

    def _range(
        self, client: ClusterClient, shard: int, start: str, end: str, count: int
    ) -> builtins.list[DeadLetter]:
        dlq = dead_letter_stream(self._streams[shard])
        reply = client.command(dlq, "XRANGE", dlq, start, end, "COUNT", count)
        return [
            letter
            for item in (reply if isinstance(reply, builtins.list) else [])
            if (letter := self._parse(shard, dlq, item)) is not None
        ]

    def _parse(self, shard: int, dlq: str, item: Reply) -> DeadLetter | None:
        if not (isinstance(item, builtins.list) and len(item) == 2):
            return None
        entry_id, fields = item
        if not isinstance(entry_id, bytes):
            return None
        values: dict[bytes, bytes] = {}
        if isinstance(fields, builtins.list):
            for key, value in zip(fields[::2], fields[1::2], strict=False):
                if isinstance(key, bytes) and isinstance(value, bytes):
                    values.setdefault(key, value)
        deliveries = values.get(b"deliveries", b"")
        return DeadLetter(
            id=entry_id.decode(),
            dead_letter_stream=dlq,
            shard=shard,
            body=values.get(b"m", b""),
            reason=_text(values.get(b"reason")),
            deliveries=int(deliveries) if deliveries.isdigit() else 0,
            original_id=_text(values.get(b"id")),
            original_stream=_text(values.get(b"stream")) or self._streams[shard],
        )

    def _all(self, client: ClusterClient) -> Iterable[DeadLetter]:
        """Every dead letter present now, shard by shard, read in batches."""
        for shard in range(self.shards):
            dlq = dead_letter_stream(self._streams[shard])
            newest = client.command(dlq, "XREVRANGE", dlq, "+", "-", "COUNT", 1)
            if not (isinstance(newest, builtins.list) and newest):
                continue
            end = self._parse(shard, dlq, newest[0])
            start = "-"
            while end is not None:
                batch = self._range(client, shard, start, end.id, BATCH)
                yield from batch
                if len(batch) < BATCH:
                    break
                start = _next_id(batch[-1].id)

    def _find(self, client: ClusterClient, ids: Iterable[str]) -> builtins.list[DeadLetter]:
        """Look up every id (all of them before anything is changed)."""
        wanted = [self._parse_id(entry_id) for entry_id in _id_list(ids)]
        found: builtins.list[DeadLetter] = []
        seen: set[tuple[int, str]] = set()
        for pinned, entry_id in wanted:
            shards = range(self.shards) if pinned is None else [pinned]
            matches = [
                letter
                for shard in shards
                for letter in self._range(client, shard, entry_id, entry_id, 1)
            ]
            if len(matches) > 1:
                where = ", ".join(f"{letter.shard}:{entry_id}" for letter in matches)
                raise ConfigError(
                    f"invalid ids: {entry_id} is in more than one shard; give one of {where}",
                    "ids",
                )
            for letter in matches:
                if (letter.shard, letter.id) not in seen:
                    seen.add((letter.shard, letter.id))
                    found.append(letter)
        return found

    def _parse_id(self, text: str) -> tuple[int | None, str]:
        return parse_id(text, self.shards)

    def _replay_one(self, client: ClusterClient, letter: DeadLetter) -> int:
        stream = self._streams[letter.shard]
        reply = client.command(
            stream,
            "EVAL",
            _REPLAY_SCRIPT,
            2,
            stream,
            letter.dead_letter_stream,
            letter.body,
            letter.id,
        )
        return _as_int(reply)


def parse_id(text: str, shards: int | None = None) -> tuple[int | None, str]:
    """Split a dead-letter id as `DeadLetters.replay` and `DeadLetters.purge` take it.

    Args:
        text: ``"MILLIS-SEQ"`` or ``"SHARD:MILLIS-SEQ"``.
        shards: The queue's shard count, to check ``SHARD`` against; None to skip that.

    Returns:
        ``(shard or None, "MILLIS-SEQ")``.

    Raises:
        ConfigError: `text` is neither form, or names a shard the queue does not have.
    """
    match = _ID.fullmatch(text) if isinstance(text, str) else None
    if match is None or int(match[3]) > _MAX_SEQ or int(match[2]) > _MAX_SEQ:
        raise ConfigError(
            f"invalid ids: {text!r} is not a stream id (MILLIS-SEQ) or SHARD:MILLIS-SEQ", "ids"
        )
    shard = int(match[1]) if match[1] is not None else None
    if shard is not None and shards is not None and shard >= shards:
        raise ConfigError(
            f"invalid ids: {text!r} names shard {shard} but the queue has "
            f"{shards} shard{'' if shards == 1 else 's'}",
            "ids",
        )
    return shard, f"{int(match[2])}-{int(match[3])}"


def _id_list(ids: Iterable[str]) -> builtins.list[str]:
    if isinstance(ids, (str, bytes)):
        # A lone id would otherwise be taken character by character.
        raise ConfigError("invalid ids: give an iterable of ids, not one string", "ids")
    return builtins.list(ids)


def _order(letter: DeadLetter) -> tuple[int, int, int]:
    millis, _, seq = letter.id.partition("-")
    return int(millis), int(seq or 0), letter.shard


def _next_id(entry_id: str) -> str:
    millis, _, seq = entry_id.partition("-")
    ms, sequence = int(millis), int(seq or 0)
    return f"{ms + 1}-0" if sequence >= _MAX_SEQ else f"{ms}-{sequence + 1}"


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode("utf-8", "replace")


def _as_int(reply: Reply) -> int:
    if isinstance(reply, int):
        return reply
    if isinstance(reply, bytes) and reply.lstrip(b"-").isdigit():
        return int(reply)
    return 0
