"""Progress bars that follow tqdm's conventions.

``progress=None`` (the default everywhere): a bar only when the stream is a
terminal, so logs and pipes get no bar text; ``True``: a bar wherever the
output goes; ``False``: none. ``TQDM_DISABLE`` (any value but "" or "0")
switches every bar off, as it does in tqdm itself.
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
        return bool(isatty and isatty())
    return progress


class NoBar:
    """What a bar offers, drawing nothing: no tqdm is made (tqdm makes a process-wide lock, which
    a worker process killed mid-run would leave behind)."""

    disable = True

    def __init__(self, total=None, **kwargs):
        self.total, self.n = total, 0

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
    from tqdm.auto import tqdm
    return tqdm(file=file, **kwargs)
