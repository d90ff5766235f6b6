"""Progress bars that follow tqdm's conventions.

``progress=None`` (the default everywhere): a bar when the stream is a
terminal or the code runs in a Jupyter notebook (a widget where ipywidgets is
installed, else one text line updated in place, never tqdm's "IProgress not
found" warning nor a pile of stderr lines), so logs
and pipes get no bar text; ``True``: a bar wherever the output goes; ``False``:
none. ``TQDM_DISABLE`` (any value but "" or "0") switches every bar off, as it
does in tqdm itself.
"""

from __future__ import annotations

import os
import sys
import time


def check(progress):
    """``progress`` as ``fit`` and ``fit_many`` take it, or a ValueError naming the values."""
    if progress is not None and not isinstance(progress, bool) and progress != "log":
        raise ValueError(
            f"progress must be None (a bar on a terminal only), True, False or 'log' (a line every 10 s), "
            f"got {progress!r}"
        )
    return progress


def wanted(progress, file=None) -> bool:
    """Whether to draw a bar on ``file`` (stderr by default) for ``progress`` (None, True, False, or
    ``"log"``: a line now and then, for logs and pipes)."""
    check(progress)
    if os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false"):
        return False
    if progress is None:
        stream = sys.stderr if file is None else file
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty()) or (in_notebook() and stream in (sys.stderr, sys.stdout))
    return progress


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel (a notebook, or a notebook run by nbclient)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _widgets() -> bool:
    """Whether ipywidgets can draw a bar (else a text bar: tqdm's widget bar would warn)."""
    import importlib

    try:
        importlib.import_module("ipywidgets")
    except ImportError:
        return False
    return True


class NoBar:
    """What a bar offers, drawing nothing: no tqdm is made (tqdm makes a process-wide lock, which
    a worker process killed mid-run would leave behind)."""

    disable = True

    def __init__(self, total=None, initial=0, **kwargs):
        self.total, self.n = total, initial

    def update(self, n=1):
        self.n += n

    def set_postfix(self, *args, **kwargs):
        pass

    def clear(self):
        pass

    def refresh(self):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class LogBar(NoBar):
    """Progress for logs and pipes, where a bar's redraws are noise: a line once ``first`` seconds
    have passed (the rate is then worth reading), then at most every ``every`` seconds, and one at
    the end, such as ``sweep: 2,400/12,000 net-it (20%), 3,100 net-it/s, ETA 3 s``."""

    def __init__(self, total=None, initial=0, file=None, desc="progress", unit="it", every=10.0, first=2.0, **kw):
        super().__init__(total, initial)
        self.file, self.desc, self.unit, self.every, self.first = file, desc, unit, every, first
        self.start_n, self.t0, self.last, self.closed = initial, time.monotonic(), None, False

    def update(self, n=1):
        self.n += n
        now = time.monotonic()
        if now - (self.t0 if self.last is None else self.last) >= (self.first if self.last is None else self.every):
            self.last = now
            self._line(now)

    def close(self):
        if self.n > self.start_n and not self.closed:
            self._line(time.monotonic())
        self.closed = True

    def _line(self, now):
        rate = (self.n - self.start_n) / max(now - self.t0, 1e-9)
        total = self.total or 0
        done = f"{self.n:,}/{total:,} {self.unit} ({100 * self.n / total:.0f}%)" if total else f"{self.n:,} {self.unit}"
        eta = f", ETA {max(total - self.n, 0) / rate:.0f} s" if total and rate > 0 and self.n < total else ""
        print(f"{self.desc}: {done}, {rate:,.0f} {self.unit}/s{eta}", file=self.file, flush=True)


class DisplayBar(NoBar):
    """A text bar in a notebook without ipywidgets: one output line updated in place (an IPython
    display handle, redrawn at most five times a second), never a pile of stderr lines. The line
    is tqdm's (``tqdm.format_meter``): percentage, bar, count, elapsed and ETA, rate, loss."""

    disable = False  # the run loop shows the loss on it

    def __init__(self, total=None, initial=0, unit="it", desc=None, **kwargs):
        from IPython.display import display
        from tqdm.std import tqdm

        super().__init__(total, initial)
        self.unit, self.desc, self.format_meter, self.postfix = unit, desc, tqdm.format_meter, None
        self.t0, self.shown, self.closed = time.monotonic(), 0.0, False
        self.handle = display({"text/plain": self._text()}, raw=True, display_id=True)

    def _text(self):
        elapsed = time.monotonic() - self.t0
        return self.format_meter(
            self.n, self.total, elapsed, ncols=100, prefix=self.desc or "", unit=self.unit, postfix=self.postfix
        )

    def _show(self, force=False):
        now = time.monotonic()
        if (force or now - self.shown >= 0.2) and self.handle is not None:
            self.shown = now
            self.handle.update({"text/plain": self._text()}, raw=True)

    def update(self, n=1):
        self.n += n
        self._show()

    def set_postfix(self, *args, refresh=True, **kwargs):
        self.postfix = ", ".join(f"{k}={v}" for k, v in kwargs.items()) or None

    def close(self):
        if not self.closed:
            self._show(force=True)
        self.closed = True


def bar(progress=None, file=None, **kwargs):
    """A ``tqdm`` bar where :func:`wanted` says so, a :class:`LogBar` for ``progress="log"``, else a
    :class:`NoBar`."""
    file = sys.stderr if file is None else file
    if not wanted(progress, file):
        return NoBar(**kwargs)
    if progress == "log":
        kwargs.pop("dynamic_ncols", None)
        kwargs.pop("smoothing", None)
        return LogBar(file=file, **kwargs)
    if in_notebook() and file in (sys.stderr, sys.stdout):
        kwargs.pop("dynamic_ncols", None)
        if not _widgets():
            kwargs.pop("smoothing", None)
            return DisplayBar(**kwargs)
        from tqdm.notebook import tqdm as notebook_bar

        return notebook_bar(**kwargs)
    from tqdm.std import tqdm

    return tqdm(file=file, **kwargs)
