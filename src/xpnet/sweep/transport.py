"""How a sweep's training data reaches its shards, sent once: scattered to every worker of a
Dask cluster (through Dask's public API), memory-mapped files for processes of this machine,
the arrays themselves for threads (and, by value, for any other executor)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..workers import ProcessShards

__all__ = ["dask_client", "shared", "unshare"]


def dask_client(executor: Any) -> Any:
    """The Dask client behind ``executor``, or None: a ``distributed.Client`` itself, or for
    ``client.get_executor()`` the process's client (``distributed.get_client()``)."""
    if type(executor).__module__.split(".")[0] != "distributed":
        return None
    import distributed

    if isinstance(executor, distributed.Client):
        return executor
    return distributed.get_client()


@contextlib.contextmanager
def shared(executor: Any, host: list[np.ndarray | None]) -> Iterator[dict[str, Any]]:
    """The host arrays ``host`` (None where absent) as the shards get them, for as long as the
    block runs (:func:`unshare` turns it back into arrays in a shard)."""
    client = dask_client(executor)
    if client is not None:
        yield {
            "scattered": client.scatter([a for a in host if a is not None], broadcast=True),
            "present": [a is not None for a in host],
        }
        return
    if isinstance(executor, (concurrent.futures.ProcessPoolExecutor, ProcessShards)):
        with _owned_folder() as folder:
            yield {"files": [None if a is None else _save(folder, n, a) for n, a in enumerate(host)]}
        return
    yield {"arrays": host}


#: a sweep's folder of shared data holds this file, locked (flock) for as long as the sweep runs
OWNER = ".owner"


@contextlib.contextmanager
def _owned_folder() -> Iterator[str]:
    """A new ``xpnet-sweep-*`` folder in TMPDIR, locked by this sweep and removed when it ends; first,
    the folders of sweeps that died (even by SIGKILL: the kernel dropped their lock) are removed."""
    remove_abandoned()
    folder = tempfile.mkdtemp(prefix="xpnet-sweep-")
    try:
        fd = os.open(os.path.join(folder, OWNER), os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield folder
        finally:
            os.close(fd)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_abandoned(root: str | None = None) -> list[str]:
    """Remove the shared-data folders of sweeps that are no longer running; the folders removed."""
    root = tempfile.gettempdir() if root is None else root
    removed: list[str] = []
    try:
        names = os.listdir(root)
    except OSError:
        return removed
    for name in names:
        folder = os.path.join(root, name)
        if not name.startswith("xpnet-sweep-") or not os.path.isdir(folder):
            continue
        try:
            fd = os.open(os.path.join(folder, OWNER), os.O_RDONLY)
        except OSError:
            continue  # no owner file (being made, or not ours): left alone
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # its sweep is running
        finally:
            os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _save(folder: str, n: int, a: np.ndarray) -> str:
    path = os.path.join(folder, f"{n}.npy")
    try:
        np.save(path, a, allow_pickle=False)
    except OSError as exc:
        raise OSError(  # the message alone: str() of it is the one line a user reads
            f"could not write the sweep's shared data {path} ({a.nbytes / 2**20:.0f} MiB: {exc.strerror or exc}); "
            "free space there, or set TMPDIR to a folder with room",
        ) from None
    return path


def unshare(received: dict[str, Any]) -> list[np.ndarray | None]:
    """The data a shard received (:func:`shared`), as host arrays (files memory-mapped)."""
    if "files" in received:
        return [None if p is None else np.load(p, mmap_mode="r", allow_pickle=False) for p in received["files"]]
    if "scattered" in received:  # a worker's copy may sit unaligned in its buffers: aligned once here
        arrays = iter(received["scattered"])
        return [
            np.require(next(arrays), requirements=["C", "A"]) if present else None for present in received["present"]
        ]
    return received["arrays"]
