"""Entry point for ``python -m ami``."""

from .cli import run

run(prog="python -m ami")
