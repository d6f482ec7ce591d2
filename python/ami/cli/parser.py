"""What every command's parser shares: options anywhere among the positionals, the
handler each command binds, and ``--version``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

# Bound per action with `set_defaults(handler=...)`: takes the parsed arguments and
# returns the exit status.
Handler = Callable[[argparse.Namespace], int]


class CommandParser(argparse.ArgumentParser):
    """A parser whose commands take their options before, between or after positionals.

    argparse's intermixed parsing refuses a parser with subcommands, so only the parser
    of a command without subcommands parses intermixed; the parsers above it hand it
    the rest of the arguments as usual.
    """

    _intermixing = False

    def parse_known_args(
        self, args: Iterable[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        """Parse like `argparse.ArgumentParser.parse_known_args`, options anywhere.

        Args:
            args: The arguments; default ``sys.argv[1:]``.
            namespace: Where to store the values; default a new `argparse.Namespace`.

        Returns:
            The namespace and the arguments that were not recognised.
        """
        # `_subparsers` is set by add_subparsers; the intermixed parse calls this method
        # again for each of its two passes, which must parse as usual.
        if self._subparsers is not None or self._intermixing:
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False

    def error(self, message: str) -> NoReturn:
        """Report a usage mistake as one line on stderr, as every other mistake is, and
        exit with status 2.

        Args:
            message: What is wrong.
        """
        self.exit(2, f"{self.prog}: error: {message}\n")

    def print_help(self, file: SupportsWrite[str] | None = None) -> None:
        """Print the help, to stdout by default.

        Args:
            file: Where to print it.

        Raises:
            BrokenPipeError: Nobody reads stdout any more (argparse would ignore that).
        """
        (file or sys.stdout).write(self.format_help())


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
