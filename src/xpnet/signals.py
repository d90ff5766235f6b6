"""Stopping signals as exceptions: SIGTERM and SIGHUP raised where the program is, as Ctrl-C
(SIGINT) raises ``KeyboardInterrupt``, so that every stop takes the same way out: the command
line's (``cli/main.py``) and a sweep worker's (``workers.py``)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

#: the signals that stop a run
STOPPING = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


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


def stop_once(signum: int, frame: FrameType | None = None) -> None:
    """A signal handler: the first stopping signal is raised where the program is
    (:func:`raise_interrupted`); later ones are ignored, so the stop's own work (rolling a chunk
    back, writing what was done) is never cut short by a second Ctrl-C."""
    for sig in STOPPING:
        with contextlib.suppress(ValueError):  # not the main thread
            signal.signal(sig, signal.SIG_IGN)
    raise_interrupted(signum, frame)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold the stopping signals while a short write runs: one that comes meanwhile (a second
    Ctrl-C while results are written) is delivered as soon as the block ends, so a file is never
    cut half-way and no temporary file is left unnamed. Only the main thread receives signals in
    Python; elsewhere this holds nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in STOPPING}
    for sig in STOPPING:
        signal.signal(sig, lambda signum, frame: came.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if came:
            _deliver(came[0], previous[came[0]])


def _deliver(signum: int, handler: object) -> None:
    """What ``handler`` (the one installed before :func:`held`) would have done with ``signum``."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL or handler is None:
        os.kill(os.getpid(), signum)  # the default action (SIGINT's default handler is callable)
