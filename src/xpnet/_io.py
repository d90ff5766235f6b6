"""Writing files safely: a temporary name beside the target, then a rename.

A failure (an exception, Ctrl-C) leaves nothing behind, and a reader never
sees a half-written file.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path, suffix=".part"):
    """Yield a temporary path in ``path``'s folder; rename it to ``path`` on success.

    The file gets the usual permissions (0666 less the umask), not mkstemp's 0600.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write(path, data) -> None:
    """Write bytes or text to ``path`` through a temporary file."""
    mode = "w" if isinstance(data, str) else "wb"
    with atomic_path(path) as tmp, open(tmp, mode) as fh:
        fh.write(data)


def json_text(obj: Any, indent: int | None = 1) -> str:
    """``obj`` as strict JSON: NaN and infinities become ``null`` (``json.dumps`` would write ``NaN``,
    which is not JSON and which other readers refuse)."""
    return json.dumps(_finite(obj), indent=indent, allow_nan=False)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj
