"""Text for people: counts with thousands separators, aligned tables, durations and
message bodies on one line. JSON output never goes through here."""

from __future__ import annotations

from collections.abc import Collection

Row = tuple[str, ...]


def format_count(value: int) -> str:
    """A count with thousands separators: ``1,000,000``.

    Args:
        value: The count.

    Returns:
        The text.
    """
    return f"{value:,}"


def plural(value: int, noun: str) -> str:
    """A count and its noun: ``1 message``, ``1,000 messages``.

    Args:
        value: The count.
        noun: The singular noun; the plural adds ``s``.

    Returns:
        The text.
    """
    return f"{format_count(value)} {noun}{'' if value == 1 else 's'}"


def table(rows: list[Row], right: Collection[int] = ()) -> list[str]:
    """Align rows into columns two spaces apart.

    Args:
        rows: The header row, then the data rows; all of the same length.
        right: The columns to align right (numbers), header included.

    Returns:
        One line per row, without trailing spaces.
    """
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    return [
        "  ".join(
            cell.rjust(width) if col in right else cell.ljust(width)
            for col, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def format_duration(seconds: float | None) -> str:
    """A short human duration: ``0.35s``, ``42.0s``, ``5m03s``, ``2h05m``, ``3d04h``.

    Args:
        seconds: The duration; None for "not applicable".

    Returns:
        The text, or ``-`` for None.
    """
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    for unit, size, sub_unit, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60)):
        if whole >= size:
            return f"{whole // size}{unit}{whole % size // sub_size:02d}{sub_unit}"
    return f"{whole // 60}m{whole % 60:02d}s"


def format_body(body: bytes | None) -> str:
    """A body as one line of text: itself if printable UTF-8, else the bytes' repr.

    Args:
        body: The entry's field ``m``; None for an entry without it.

    Returns:
        The text to print.
    """
    if body is None:
        return "(no field m)"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return repr(body)
    # Newlines or other control characters would break the one-line-per-entry output.
    return text if text and text.isprintable() else repr(body)


def preview(body: bytes, width: int) -> str:
    """A body as one short line: printable UTF-8 as is, else its repr; cut to `width`.

    Args:
        body: The body.
        width: The longest result, in characters (at least 4).

    Returns:
        The text, ending in ``...`` if it was cut.
    """
    text = format_body(body) if body else "''"
    return text if len(text) <= width else text[: max(width, 4) - 3] + "..."


def format_headers(headers: dict[str, bytes]) -> list[str]:
    """Headers as ``NAME=VALUE`` texts, values shown as `format_body` shows bodies
    (an empty value as nothing after ``=``).

    Args:
        headers: The entry's headers, in the entry's order.

    Returns:
        One text per header; none contains a tab or a newline.
    """
    return [f"{name}={format_body(value) if value else ''}" for name, value in headers.items()]
