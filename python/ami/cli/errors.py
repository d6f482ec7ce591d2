"""How a command ends: its exit statuses, and the mistake that is the user's."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# Stdout was closed early (`ami ... | head`): 128 + SIGPIPE, the status a shell reports for
# any tool a closed pipe stopped, so `set -o pipefail` scripts see what they see for `cat`.
EXIT_CLOSED_STDOUT = 141


class UsageError(Exception):
    """A user mistake: reported as one line on stderr with exit status 2."""
