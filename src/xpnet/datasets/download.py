"""Verified downloads: mirrors in turn, timeouts, checksums, temp name then rename."""

from __future__ import annotations

import hashlib
import http.client
import os
import time
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


#: A download slower than this (bytes/s, averaged) after GRACE seconds is given up on.
MIN_RATE = 10_000
GRACE = 30.0


def download_file(url, dest, md5=None, timeout=20.0, progress=None, max_bytes=None) -> None:
    """Fetch ``url`` into ``dest``, checking its MD5; nothing is left on failure.

    Args:
        max_bytes: the file's known size: a reply that announces or sends more is refused.

    Raises:
        DatasetError: for every failure, naming the URL: HTTP error, timeout,
            connection failure, a reply that is not HTTP or is cut short, a
            transfer slower than MIN_RATE bytes/s after GRACE seconds, more
            bytes than ``max_bytes``, a checksum mismatch, or a folder that
            cannot be written.
    """
    folder = os.path.dirname(os.path.abspath(dest))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise DatasetError(
            f"{url}: cannot save into {folder} ({exc.strerror or exc}); set XPNET_DATA_DIR to a writable folder"
        ) from exc
    remove_stale_parts(folder)
    h = hashlib.md5()
    try:
        with atomic_path(dest) as tmp:
            req = urllib.request.Request(url, headers={"User-Agent": "xpnet (python urllib)"})
            with open(tmp, "wb") as out, urllib.request.urlopen(req, timeout=timeout) as resp:
                total = resp.headers.get("Content-Length")
                total = int(total) if total and total.isdigit() else None
                if max_bytes is not None and total is not None and total > max_bytes:
                    raise DatasetError(f"{url}: announces {total} bytes, more than the published file's {max_bytes}")
                got = 0
                start = time.monotonic()
                with _progress(total, os.path.basename(dest), progress) as bar:
                    while True:
                        block = resp.read1(1 << 16) if hasattr(resp, "read1") else resp.read(1 << 16)
                        if not block:
                            break
                        out.write(block)
                        h.update(block)
                        got += len(block)
                        bar.update(len(block))
                        if max_bytes is not None and got > max_bytes:
                            raise DatasetError(f"{url}: sent more than the published file's {max_bytes} bytes")
                        elapsed = time.monotonic() - start
                        if elapsed > GRACE and got / elapsed < MIN_RATE:
                            raise DatasetError(
                                f"{url}: too slow ({got / elapsed:,.0f} bytes/s after {elapsed:.0f} s); gave up"
                            )
            if total is not None and got != total:
                raise DatasetError(f"{url}: download ended after {got} of {total} bytes")
            if md5 is not None and h.hexdigest() != md5:
                raise DatasetError(
                    f"{url}: checksum mismatch (MD5 {h.hexdigest()}, published {md5}); the file was not kept"
                )
    except DatasetError:
        raise
    except urllib.error.HTTPError as exc:
        raise DatasetError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DatasetError(f"{url}: {type(exc).__name__}: {reason}") from exc
    except (http.client.HTTPException, ValueError) as exc:  # a cut chunked body, a reply that is not HTTP
        raise DatasetError(f"{url}: {type(exc).__name__}: {exc or 'the reply was cut short or is not HTTP'}") from exc


def remove_stale_parts(folder, older_than=3600.0):
    """Remove the hidden ``.*.part`` files an interrupted write left in ``folder`` (older than an hour)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    now = time.time()
    for name in names:
        if name.startswith(".") and name.endswith(".part"):
            path = os.path.join(folder, name)
            try:
                if now - os.stat(path).st_mtime > older_than:
                    os.unlink(path)
            except OSError:
                pass
