"""The fast cache of a data set: one ``.npy`` per array (memory-mapped on read), trusted only
while its signature (the source files' path, size, time and digest; each array's file and
shape) says it was made from the very files found now."""

from __future__ import annotations

import io
import json
import os

import numpy as np

from .download import remove_stale_parts
from .idx import atomic_write


def signature(paths, digests):
    """What identifies the source files: path, size, time and content digest of each."""
    return {k: [str(p), os.stat(p).st_size, int(os.stat(p).st_mtime_ns), digests[k]] for k, p in sorted(paths.items())}


def read(cache, sig, keys):
    """The cached arrays, if the cache is provably that of the source files in ``sig``; else None.

    The signature records the sources' digests, each cached file's size and time, and each
    array's shape; on read the shapes, dtypes and label range are checked again.
    """
    try:
        saved = json.loads((cache / "signature.json").read_text())
        if saved.get("sources") != sig:
            return None
        arrays = {}
        for key in keys:
            path = cache / f"{key}.npy"
            stat = os.stat(path)
            entry = saved["cache"][key]
            if [stat.st_size, int(stat.st_mtime_ns)] != entry["file"]:
                return None
            a = np.load(path, mmap_mode="r", allow_pickle=False)
            if a.dtype != np.uint8 or list(a.shape) != entry["shape"]:
                return None
            if key.endswith("labels") and a.size and int(a.max()) > 9:
                return None
            arrays[key] = a
        return arrays
    except (OSError, KeyError, ValueError, TypeError, EOFError, AttributeError):
        return None  # missing, damaged or foreign: rebuilt from the sources


def write(cache, arrays, sig):
    try:
        cache.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(cache)
        stale = cache / "signature.json"
        if stale.exists():
            stale.unlink()  # invalid until every array is rewritten
        entries = {}
        for key, arr in arrays.items():
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
            path = cache / f"{key}.npy"
            atomic_write(path, buf.getvalue())
            stat = os.stat(path)
            entries[key] = {"file": [stat.st_size, int(stat.st_mtime_ns)], "shape": list(arr.shape)}
        atomic_write(cache / "signature.json", json.dumps({"sources": sig, "cache": entries}).encode())
    except OSError:
        pass  # a read-only folder: no cache, still correct
