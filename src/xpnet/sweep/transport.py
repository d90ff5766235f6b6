"""How a sweep's training data reaches its shards, sent once: scattered to every worker of a
Dask cluster (through Dask's public API), memory-mapped files for processes of this machine,
the arrays themselves for threads (and, by value, for any other executor)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
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
        with tempfile.TemporaryDirectory(prefix="xpnet-sweep-") as folder:
            paths: list[str | None] = []
            for n, a in enumerate(host):
                if a is None:
                    paths.append(None)
                    continue
                path = os.path.join(folder, f"{n}.npy")
                paths.append(path)
                np.save(path, a, allow_pickle=False)
            yield {"files": paths}
        return
    yield {"arrays": host}


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
