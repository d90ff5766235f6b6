"""Writing files safely: a temporary name beside the target, then a rename.

A failure (an exception, Ctrl-C) leaves nothing behind, and a reader never
sees a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile


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
