"""What the NumPy backend offers ``xpnet.accel``.

NumPy has no fused kernels here (``REPLACEMENTS`` is empty); its loops
release the GIL, so independent chunks run in a thread pool.
"""

from __future__ import annotations

import concurrent.futures
import os

REPLACEMENTS: dict = {}

#: Below this many floating-point operations per step, BLAS runs on one thread: at the
#: book's size (16 MFLOP a step) a second thread gains nothing on a quiet machine and
#: makes a step about 3x slower when another process keeps a core busy.
SMALL_STEP_FLOPS = 1e8

#: Environment variable that sets the BLAS threads of every fit (a positive int).
THREADS_ENV = "XPNET_BLAS_THREADS"

#: Threads for :func:`parallel_map` (at most 8).
WORKERS = min(os.cpu_count() or 1, 8)


def parallel_map(fn, items):
    """``fn`` over ``items`` in a thread pool (NumPy releases the GIL inside its loops)."""
    if WORKERS < 2:
        return [fn(i) for i in items]
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(fn, items))


def blas_threads(step_flops, grad, requested=None):
    """Threads for BLAS during a fit: ``requested``, else ``XPNET_BLAS_THREADS``, else 1 for
    small steps and for numerical gradients (which use the thread pool instead), else None
    (BLAS's own choice: every core)."""
    if requested is not None:
        return requested
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"{THREADS_ENV} must be a positive whole number, got {env!r}")
        return int(env)
    if grad == "numerical" or step_flops < SMALL_STEP_FLOPS:
        return 1
    return None


def thread_scope(threads):
    """Hold BLAS to ``threads`` threads inside the block (threadpoolctl)."""
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=threads, user_api="blas")


def blas_info():
    """``[(library, version, threads)]`` of the BLAS libraries NumPy has loaded."""
    from threadpoolctl import threadpool_info
    return [(i.get("internal_api"), i.get("version"), i.get("num_threads"))
            for i in threadpool_info() if i.get("user_api") == "blas"]
