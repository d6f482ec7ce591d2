"""Entry point for ``python -m ami``."""

from .cli import main

raise SystemExit(main())
