"""Progress bars that follow tqdm's conventions.

``progress=None`` (the default everywhere): a bar when the stream is a
terminal or the code runs in a Jupyter notebook (a widget where ipywidgets is
installed, text otherwise, never tqdm's "IProgress not found" warning), so logs
and pipes get no bar text; ``True``: a bar wherever the output goes; ``False``:
none. ``TQDM_DISABLE`` (any value but "" or "0") switches every bar off, as it
does in tqdm itself.
"""

from __future__ import annotations

import os
import sys


def wanted(progress, file=None) -> bool:
    """Whether to draw a bar on ``file`` (stderr by default) for ``progress`` (None, True or False)."""
    if progress is not None and not isinstance(progress, bool):
        raise ValueError(f"progress must be None (a bar on a terminal only), True or False, got {progress!r}")
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


def bar(progress=None, file=None, **kwargs):
    """A ``tqdm`` bar where :func:`wanted` says so, else a :class:`NoBar`."""
    file = sys.stderr if file is None else file
    if not wanted(progress, file):
        return NoBar(**kwargs)
    if in_notebook() and _widgets():
        from tqdm.notebook import tqdm as notebook_bar

        kwargs.pop("dynamic_ncols", None)
        return notebook_bar(**kwargs)
    from tqdm.std import tqdm

    return tqdm(file=file, **kwargs)
