"""Writing files safely: a temporary name beside the target, then a rename.

A failure (an exception, Ctrl-C) leaves nothing behind, and a reader never
sees a half-written file.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import tempfile
import zlib
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
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path, folder, suffix), suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _temp_prefix(path, folder, suffix) -> str:
    """``.<name>.`` for the temporary file beside ``path``, the name cut short where the whole
    temporary name would pass the file system's limit (a name that fits must be writable); a
    ``path`` whose own name does not fit is refused naming it, not its temporary file."""
    base = os.path.basename(path)
    try:
        name_max = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    if len(os.fsencode(base)) > name_max:
        raise OSError(errno.ENAMETOOLONG, f"File name too long (more than {name_max} bytes)", path)
    room = name_max - 2 - 8 - len(suffix)  # ".", ".", mkstemp's 8 random characters, the suffix
    while base and len(os.fsencode(base)) > room:
        base = base[:-1]
    return "." + base + "."


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


def npy_from_bytes(data: bytes) -> Any:
    """The array of one ``.npy`` file's bytes, its header checked against the bytes first: a header
    claiming a shape the data does not hold (8 PiB, say) is a ValueError, never an allocation."""
    import numpy as np

    fh = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    except (ValueError, EOFError, SyntaxError, TypeError) as exc:
        raise ValueError(f"a damaged .npy header ({exc})") from None
    if dtype.hasobject:
        raise ValueError("it holds Python objects, which are never loaded")
    need = math.prod(shape) * dtype.itemsize
    have = len(data) - fh.tell()
    if need != have:
        raise ValueError(f"its header claims {dtype} of shape {shape} ({need:,} bytes) where {have:,} bytes follow")
    return np.load(io.BytesIO(data), allow_pickle=False)


def npz_arrays(path: Any, keys: Any, max_bytes: int) -> dict:
    """The arrays ``keys`` of the ``.npz`` at ``path`` (``key.npy`` members), each checked by
    :func:`npy_from_bytes` and refused above ``max_bytes`` uncompressed; ValueError otherwise."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            out = {}
            for key in keys:
                info = archive.getinfo(f"{key}.npy")
                if info.file_size > max_bytes:
                    raise ValueError(f"{key} unpacks to {info.file_size:,} bytes, more than {max_bytes:,}")
                out[key] = npy_from_bytes(archive.read(info))
            return out
    except KeyError as exc:
        raise ValueError(f"no array {exc}") from None
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise ValueError(f"not an .npz archive, or a damaged one ({exc})") from None
