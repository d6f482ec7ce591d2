"""Value types for the command line's numeric options: a bad value is a usage error."""

from __future__ import annotations

import argparse
import math
import os
import unicodedata

from .._ami import MAX_SHARDS

# The longest header name, in bytes of UTF-8, as producers take it.
MAX_HEADER_NAME = 255

# The longest --timeout: longer than any wait a person means, and far below what sockets
# and the native core can represent (a socket overflows at about 292 years).
MAX_SECONDS = 86_400.0


def non_negative_int(text: str) -> int:
    """An integer of at least 0.

    Args:
        text: The option's value.

    Returns:
        The integer.

    Raises:
        argparse.ArgumentTypeError: `text` is not such an integer.
    """
    return _int_between(text, 0, None)


def positive_int(text: str) -> int:
    """An integer of at least 1.

    Args:
        text: The option's value.

    Returns:
        The integer.

    Raises:
        argparse.ArgumentTypeError: `text` is not such an integer.
    """
    return _int_between(text, 1, None)


def shard_count(text: str) -> int:
    """A queue's shard count, between 1 and `MAX_SHARDS` as producers and consumers take it.

    Args:
        text: The option's value.

    Returns:
        The shard count.

    Raises:
        argparse.ArgumentTypeError: `text` is not such an integer.
    """
    return _int_between(text, 1, MAX_SHARDS)


def seconds(text: str) -> float:
    """A duration in seconds: greater than 0, at most `MAX_SECONDS`.

    Args:
        text: The option's value.

    Returns:
        The number of seconds.

    Raises:
        argparse.ArgumentTypeError: `text` is not such a number.
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise argparse.ArgumentTypeError(
            f"must be greater than 0 and at most {MAX_SECONDS:,.0f} seconds, got {text}"
        )
    return value


def header(text: str) -> tuple[str, bytes]:
    """A header as ``NAME=VALUE``: a name as producers take it (not empty, at most 255
    bytes of UTF-8, no control character, no ``=``), then any value, maybe empty.

    Args:
        text: The option's value.

    Returns:
        The name and the value's bytes, exactly as given (also when not UTF-8).

    Raises:
        argparse.ArgumentTypeError: `text` is not such a header.
    """
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"header name {name!r} is not valid UTF-8") from None
    if size > MAX_HEADER_NAME:
        raise argparse.ArgumentTypeError(
            f"header name {name[:20]!r}... is {size} bytes long, more than {MAX_HEADER_NAME}"
        )
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise argparse.ArgumentTypeError(f"header name {name!r} holds a control character")
    # fsencode gives back the exact bytes of an argument that is not valid UTF-8.
    return name, os.fsencode(value)


def _int_between(text: str, low: int, high: int | None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if high is not None and not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
    if value < low:
        raise argparse.ArgumentTypeError(
            f"must be at least {low}, got {value}" if low else f"must not be negative, got {value}"
        )
    return value
