"""What the NumPy backend offers ``xpnet.accel``.

NumPy has no fused kernels here (``REPLACEMENTS`` is empty); its loops
release the GIL, so independent chunks run in a thread pool.
"""

from __future__ import annotations

import concurrent.futures
import os

REPLACEMENTS: dict = {}

#: Threads for :func:`parallel_map` (at most 8).
WORKERS = min(os.cpu_count() or 1, 8)


def parallel_map(fn, items):
    """``fn`` over ``items`` in a thread pool (NumPy releases the GIL inside its loops)."""
    if WORKERS < 2:
        return [fn(i) for i in items]
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(fn, items))
