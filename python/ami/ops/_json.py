"""Bodies and headers as JSON values: text when valid UTF-8, else base64, with a flag
that says which, so that scripts get every byte back."""

from __future__ import annotations

import base64


def text_or_base64(value: bytes) -> tuple[str, bool]:
    """A value as text if it is valid UTF-8, else as its base64 encoding.

    Args:
        value: The bytes.

    Returns:
        The text and whether it is base64.
    """
    try:
        return value.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(value).decode("ascii"), True


def headers_to_json(headers: dict[str, bytes]) -> tuple[dict[str, str], bool]:
    """Header values as text if every one is valid UTF-8, else all as base64, so that
    one flag covers the mapping.

    Args:
        headers: The headers.

    Returns:
        The mapping of names to text and whether the values are base64.
    """
    try:
        return {name: value.decode("utf-8") for name, value in headers.items()}, False
    except UnicodeDecodeError:
        encoded = {name: base64.b64encode(value).decode("ascii") for name, value in headers.items()}
        return encoded, True
