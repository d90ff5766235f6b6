"""What the command line's exit codes are made of: usage errors and the signals it stops on."""

from __future__ import annotations

from ..signals import Interrupted

__all__ = ["EXIT_USAGE", "UsageError", "Interrupted"]

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input on the command line: one line, exit code 2 (``prog``: the (sub)command it is about)."""

    def __init__(self, message, prog=None):
        super().__init__(message)
        self.prog = prog
