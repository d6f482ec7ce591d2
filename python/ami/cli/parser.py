"""What every command's parser shares: the handler each one binds."""

from __future__ import annotations

import argparse
from collections.abc import Callable

# Bound per action with `set_defaults(handler=...)`: takes the parsed arguments and
# returns the exit status.
Handler = Callable[[argparse.Namespace], int]
