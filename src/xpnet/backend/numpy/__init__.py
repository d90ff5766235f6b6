"""NumPy (CPU): the library, BLAS threads sized to a step, work side by side on threads, the
backprop pass, sigmoid and softmax in place (``fast.py``), members of a sweep on threads
(``steppers.py``)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import platform
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..base import Backend
from . import fast
from .steppers import MemberSteps

#: Below this many floating-point operations per step, BLAS runs on one thread: at the
#: book's size (16 MFLOP a step) a second thread gains nothing on a quiet machine and
#: makes a step about 3x slower when another process keeps a core busy.
SMALL_STEP_FLOPS = 1e8

#: Environment variable that sets the BLAS threads of every fit (a positive int).
THREADS_ENV = "XPNET_BLAS_THREADS"


def _cores() -> int:
    """CPU cores this process may run on (its affinity: a container's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def choose_blas_threads(step_flops: float, grad: str, requested: int | None = None) -> int | None:
    """Threads for BLAS during a fit: ``requested``, else ``XPNET_BLAS_THREADS``, else 1 for
    small steps and for numerical gradients (which use the thread pool instead), else None
    (BLAS's own choice: every core)."""
    if requested is not None:
        return requested
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        # ASCII digits only: str.isdigit() takes '٣' (which int() reads as 3) and '²' (which it refuses)
        digits = env.lstrip("0") if env.isascii() and env.isdigit() else "x"
        if len(digits) > 4 or not digits.isdigit() or not 1 <= int(digits) <= 4096:
            raise ValueError(
                f"{THREADS_ENV} must be a whole number of threads from 1 to 4096 in ASCII digits, got {env!r}; "
                f"unset it to let xpnet choose"
            )
        return int(env)
    if grad == "numerical" or step_flops < SMALL_STEP_FLOPS:
        return 1
    return None


def blas_line() -> str:
    """The BLAS NumPy loaded, its threads, and how ``fit`` chooses them (for ``xpnet info``)."""
    try:
        from threadpoolctl import threadpool_info

        libs = [
            (i.get("internal_api"), i.get("version"), i.get("num_threads"))
            for i in threadpool_info()
            if i.get("user_api") == "blas"
        ]
    except Exception as exc:  # threadpoolctl missing or failing
        return f"unknown ({type(exc).__name__})"
    found = ", ".join(f"{name} {ver or ''} with {threads} threads".replace("  ", " ") for name, ver, threads in libs)
    env = os.environ.get(THREADS_ENV, "")
    choice = (
        f"{THREADS_ENV}={env}"
        if env
        else f"1 thread below {SMALL_STEP_FLOPS:.0e} flops a step (the book's step: 1.6e+07), "
        f"else all; --blas-threads or {THREADS_ENV} to choose"
    )
    return f"{found or 'none found'}; fit uses {choice}"


class NumPy(Backend):
    """NumPy arrays on the host, through ``array_api_compat.numpy``."""

    name = "numpy"
    #: Threads for :meth:`parallel_map` and for members side by side (one per core, at most 8).
    workers = min(_cores(), 8)

    def load(self) -> Any:
        import array_api_compat.numpy as xp

        return xp

    def device_name(self, xp: Any, device: Any) -> str:
        return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"

    def describe(self) -> list[str]:
        return [f"numpy {np.__version__}; BLAS: {blas_line()}"]

    def parallel_map(self, fn, items):
        """``fn`` over ``items`` in a thread pool (NumPy releases the GIL inside its loops)."""
        items = list(items)
        if self.workers < 2 or len(items) < 2:
            return [fn(i) for i in items]
        with concurrent.futures.ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(fn, items))

    @contextlib.contextmanager
    def run_scope(self, device: Any, *, step_flops: float, grad: str, blas_threads: int | None) -> Iterator[int | None]:
        """BLAS held to the threads :func:`choose_blas_threads` chooses (threadpoolctl)."""
        threads = choose_blas_threads(step_flops, grad, blas_threads)
        if threads is None:
            yield None
            return
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=threads, user_api="blas"):
            yield threads

    def stacked_stepper(self, step, params, data, steps_per_call, *, member_step, member, active, workers=None):
        """:class:`MemberSteps` (the stacked Array-API ``step`` is not used: on NumPy, one member
        at a time per core is faster than the batched pass)."""
        return MemberSteps(member_step, member, active, self.namespace(), self.workers if workers is None else workers)

    sigmoid = staticmethod(fast.sigmoid)
    softmax = staticmethod(fast.softmax)
    loss_and_gradient = staticmethod(fast.loss_and_gradient)


BACKEND = NumPy()
