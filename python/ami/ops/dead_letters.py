"""Dead letters: list, count, replay and purge what consumers gave up on.

A consumer with `max_deliveries` moves an entry delivered too often from its shard
stream ``qu{i}_NAME`` to the dead-letter stream ``qu{i}:dlq:NAME`` (same hash slot),
with the fields ``m`` (body), ``reason``, ``deliveries``, ``id`` and ``stream``, then the
message's headers (``h:NAME``), which a replay puts back::

    with ami.DeadLetters("orders", nodes="127.0.0.1:7001") as dlq:
        for letter in dlq.list(limit=20):
            print(letter.shard, letter.id, letter.reason, letter.body)
        dlq.replay()  # every dead letter back into the queue

Each shard stream generates its own ids, so the same dead-letter id can exist in two
shards. Methods that take ids accept ``"ID"`` (looked up in every shard) or
``"SHARD:ID"`` (only that shard); an ``"ID"`` found in more than one shard is refused.
"""

from __future__ import annotations

import builtins
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ami import _ami
from ami.exceptions import ClientClosedError, ConfigError
from ami.ops._admin import open_admin
from ami.ops._json import headers_to_json, text_or_base64

if sys.version_info >= (3, 11):
    from typing import Unpack
elif TYPE_CHECKING:
    from typing_extensions import Unpack

if TYPE_CHECKING:
    from typing import Self

    from ami._ami import _LetterRow
    from ami._options import ConnectionOptions, Layout

__all__ = ["DeadLetter", "DeadLetters", "parse_id"]

_ID = re.compile(r"(?:(\d+):)?(\d+)-(\d+)")
_MAX_SEQ = 2**64 - 1


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
        headers: The message's headers (fields ``h:NAME``); a replay keeps them.
    """

    id: str
    dead_letter_stream: str
    shard: int
    body: bytes
    reason: str
    deliveries: int
    original_id: str
    original_stream: str
    headers: dict[str, bytes] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The dead letter as plain values, ready for `json.dumps`.

        Returns:
            A dict with the attributes as keys. ``body`` is text if it is valid UTF-8,
            else its base64 encoding, and ``body_base64`` says which; the same for the
            values of ``headers`` and ``headers_base64``.
        """
        body, encoded = text_or_base64(self.body)
        headers, headers_encoded = headers_to_json(self.headers)
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
            "headers": headers,
            "headers_base64": headers_encoded,
        }


class DeadLetters:
    """The dead-letter streams of a queue: count, list, replay and purge.

    Connects when created; use it as a context manager or call `close`. Safe to use
    while producers and consumers run.

    Args:
        name: The queue name.
        shards: The queue's number of shards; None takes the count its clients
            recorded (10 when none is recorded).
        layout: The queue's layout, ``"go"`` or ``"spread"``; None takes the one its
            clients recorded (``"go"`` when none is recorded).
        **options: How to connect: `nodes`, timeouts, TLS, `username`, `password`, as
            for `ami.Producer` (see `ami.ConnectionOptions`).

    Raises:
        ConfigError: `name`, `shards` or an option is invalid, or `shards` or `layout`
            differs from the recorded one.
        ConnectError: The cluster could not be reached.
    """

    def __init__(
        self,
        name: str,
        *,
        shards: int | None = None,
        layout: Layout | None = None,
        **options: Unpack[ConnectionOptions],
    ) -> None:
        self._admin: _ami.AdminCore | None = open_admin(name, shards, layout, **options)
        self.name = name
        self.shards = self._admin.shards

    def count(self) -> int:
        """How many dead letters the queue has, over all shards.

        Returns:
            The sum of the dead-letter streams' lengths; a missing stream counts 0.

        Raises:
            ClientClosedError: `close` was called.
            ConnectError: A node could not be reached.
            ServerError: Redis refused a command, e.g. a key is not a stream.
        """
        return self._open().dead_letter_count()

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
        admin = self._open()
        if limit == 0:
            return []
        rows = [
            row
            for shard in range(self.shards)
            for row in admin.dead_letters(shard, "-", "+", limit)
        ]
        letters = sorted((self._letter(row) for row in rows), key=_order)
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
        admin = self._open()
        if ids is None:
            return admin.replay_all()
        return sum(admin.replay(letter.shard, letter.id) for letter in self._find(ids))

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
        admin = self._open()
        if ids is None:
            return admin.purge_all()
        by_shard: dict[int, builtins.list[str]] = {}
        for letter in self._find(ids):
            by_shard.setdefault(letter.shard, []).append(letter.id)
        return sum(admin.purge(shard, found) for shard, found in by_shard.items())

    def close(self) -> None:
        """Close the connections; safe to call more than once."""
        admin, self._admin = self._admin, None
        if admin is not None:
            admin.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._admin is None else "open"
        return f"DeadLetters({self.name!r}, shards={self.shards}, {state})"

    def _open(self) -> _ami.AdminCore:
        if self._admin is None:
            raise ClientClosedError("DeadLetters is closed")
        return self._admin

    def _letter(self, row: _LetterRow) -> DeadLetter:
        shard, entry_id, body, reason, deliveries, original_id, original_stream, headers = row
        return DeadLetter(
            id=entry_id,
            dead_letter_stream=self._open().dead_letter_stream(shard),
            shard=shard,
            body=body,
            reason=reason,
            deliveries=deliveries,
            original_id=original_id,
            original_stream=original_stream,
            headers=headers,
        )

    def _find(self, ids: Iterable[str]) -> builtins.list[DeadLetter]:
        """Look up every id (all of them before anything is changed)."""
        admin = self._open()
        wanted = [parse_id(entry_id, self.shards) for entry_id in _id_list(ids)]
        found: builtins.list[DeadLetter] = []
        seen: set[tuple[int, str]] = set()
        for pinned, entry_id in wanted:
            shards = range(self.shards) if pinned is None else [pinned]
            matches = [
                self._letter(row)
                for shard in shards
                for row in admin.dead_letters(shard, entry_id, entry_id, 1)
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
