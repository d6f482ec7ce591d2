"""The ``ami`` command line: ``ami COMMAND ...``, or ``python -m ami COMMAND ...``.

`app` parses and dispatches; each command group has its module (`cluster`, `queue` with
`tail`, `dlq`, `demo`, `bench`) and shares `queue_options`, `state_file`, `arg_types`,
`output` and `errors`. Nothing here imports `app` but this file, so there is no cycle.
"""

from __future__ import annotations

from .app import build_parser, main, run

__all__ = ["build_parser", "main", "run"]
