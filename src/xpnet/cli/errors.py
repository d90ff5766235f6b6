"""What the command line's exit codes are made of: usage errors and the signals it stops on."""

from __future__ import annotations

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input on the command line: one line, exit code 2 (``prog``: the (sub)command it is about)."""

    def __init__(self, message, prog=None):
        super().__init__(message)
        self.prog = prog


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is, so it stops as on Ctrl-C."""

    def __init__(self, signal_number, signal_name):
        super().__init__(signal_name)
        self.signal_number, self.signal_name = signal_number, signal_name
