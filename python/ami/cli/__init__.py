"""The ``ami`` command line: ``ami COMMAND ...``, or ``python -m ami COMMAND ...``.

`app` parses and dispatches. Each command group has its module (`cluster`, `queue` with
`tail`, `dlq`, `demo`, `bench`); they share `parser`, `queue_options`, `state_file`,
`arg_types`, `output` and `errors`, which import none of them, so there is no cycle.
"""

from __future__ import annotations

from .app import build_parser, main, run

__all__ = ["build_parser", "main", "run"]
