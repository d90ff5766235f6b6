"""Verified downloads: mirrors in turn, timeouts, checksums, temp name then rename."""

from __future__ import annotations

import hashlib
import os
import socket
import urllib.error
import urllib.request

from .._io import atomic_path
from .idx import DatasetError


def md5sum(path, chunk=1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _progress(total, desc, progress):
    from .._progress import bar
    return bar(progress, total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, leave=False)


def download_file(url, dest, md5=None, timeout=20.0, progress=None) -> None:
    """Fetch ``url`` into ``dest``, checking its MD5; nothing is left on failure.

    Raises:
        DatasetError: HTTP error, timeout, connection failure, truncated body
            or checksum mismatch (the message says which).
    """
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    h = hashlib.md5()
    try:
        with atomic_path(dest) as tmp:
            req = urllib.request.Request(url, headers={"User-Agent": "xpnet (python urllib)"})
            with open(tmp, "wb") as out, urllib.request.urlopen(req, timeout=timeout) as resp:
                total = resp.headers.get("Content-Length")
                total = int(total) if total and total.isdigit() else None
                got = 0
                with _progress(total, os.path.basename(dest), progress) as bar:
                    while True:
                        block = resp.read(1 << 16)
                        if not block:
                            break
                        out.write(block)
                        h.update(block)
                        got += len(block)
                        bar.update(len(block))
            if total is not None and got != total:
                raise DatasetError(f"{url}: download ended after {got} of {total} bytes")
            if md5 is not None and h.hexdigest() != md5:
                raise DatasetError(
                    f"{url}: checksum mismatch (MD5 {h.hexdigest()}, published {md5}); the file was not kept")
    except DatasetError:
        raise
    except urllib.error.HTTPError as exc:
        raise DatasetError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DatasetError(f"{url}: {type(exc).__name__}: {reason}") from exc
