"""What every command's parser shares: the handler each one binds, and ``--version``."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

# Bound per action with `set_defaults(handler=...)`: takes the parsed arguments and
# returns the exit status.
Handler = Callable[[argparse.Namespace], int]


class VersionAction(argparse.Action):
    """``--version``: print ``ami VERSION`` on stdout and exit 0."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(
            option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0, **kwargs
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        # The version lives in the native core: import it only when asked, so that the
        # rest of the command line loads without it.
        from .. import __version__

        print(f"ami {__version__}")
        parser.exit()
