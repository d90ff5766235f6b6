"""Stopping signals as exceptions: SIGTERM and SIGHUP raised where the program is, as Ctrl-C
(SIGINT) raises ``KeyboardInterrupt``, so that every stop takes the same way out: the command
line's (``cli/main.py``) and a sweep worker's (``workers.py``)."""

from __future__ import annotations

import signal
from types import FrameType


class Interrupted(KeyboardInterrupt):
    """A stopping signal (SIGTERM, SIGHUP...), raised where the program is, as Ctrl-C would be."""

    def __init__(self, signal_number: int, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_number, self.signal_name = signal_number, signal_name


def raise_interrupted(signum: int, frame: FrameType | None = None) -> None:
    """A signal handler: SIGINT as ``KeyboardInterrupt``, any other as :class:`Interrupted`."""
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupted(signum, signal.Signals(signum).name)
