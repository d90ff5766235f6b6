"""NumPy (CPU): the library, BLAS threads measured on the run's step (``threads.py``), work side by side on threads, the
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
from ..lean_numpy import namespace as compat_namespace
from . import fast
from .steppers import MemberSteps
from .threads import CURRENT, MeasuredSteps, ThreadChoice

#: Below this many floating-point operations per step, BLAS runs on one thread without
#: measuring: OpenBLAS does not split such small products anyway. From here on ``fit``
#: measures (``threads.py``); the book's step is 16 MFLOP.
SMALL_STEP_FLOPS = 1e6

#: Environment variable that sets the BLAS threads of every fit (a positive int).
THREADS_ENV = "XPNET_BLAS_THREADS"

#: What :func:`choose_blas_threads` returns when the run measures its threads.
MEASURED = "measured"


def _cores() -> int:
    """CPU cores this process may run on (its affinity: a container's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def choose_blas_threads(step_flops: float, grad: str, requested: int | None = None) -> int | str:
    """Threads for BLAS during a fit: ``requested``, else ``XPNET_BLAS_THREADS``, else 1 for
    tiny steps, for numerical gradients (which use the thread pool instead) and on one core,
    else ``"measured"``: one thread or every core, as a measurement of the run's step says."""
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
    if grad == "numerical" or step_flops < SMALL_STEP_FLOPS or _cores() < 2:
        return 1
    return MEASURED


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
        else f"1 thread or all, measured on the run's own step (1 below {SMALL_STEP_FLOPS:.0e} flops a step); "
        f"--blas-threads or {THREADS_ENV} to choose"
    )
    return f"{found or 'none found'}; fit uses {choice}"


class NumPy(Backend):
    """NumPy arrays on the host, through ``array_api_compat.numpy``."""

    name = "numpy"
    #: Threads for :meth:`parallel_map` and for members side by side (one per core, at most 8).
    workers = min(_cores(), 8)

    def load(self) -> Any:
        return compat_namespace()

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
        """BLAS held to the threads :func:`choose_blas_threads` chooses (threadpoolctl); when they are
        measured, one thread until the stepper (:meth:`stepper`) has measured. Yields the count set."""
        from threadpoolctl import threadpool_limits

        threads = choose_blas_threads(step_flops, grad, blas_threads)
        measured = threads == MEASURED
        with threadpool_limits(limits=1 if measured else threads, user_api="blas"):
            token = CURRENT.set(ThreadChoice(_cores()) if measured else None)
            try:
                yield 1 if measured else int(threads)
            finally:
                CURRENT.reset(token)

    def stepper(self, step, params, data, steps_per_call):
        """:class:`MeasuredSteps` in a run scope whose BLAS threads are measured, else None (the plain steps)."""
        choice = CURRENT.get()
        return None if choice is None else MeasuredSteps(step, params, data, self.namespace(), choice)

    def stacked_stepper(self, step, params, data, steps_per_call, *, member_step, member, active, workers=None):
        """:class:`MemberSteps` (the stacked Array-API ``step`` is not used: on NumPy, one member
        at a time per core is faster than the batched pass)."""
        return MemberSteps(member_step, member, active, self.namespace(), self.workers if workers is None else workers)

    sigmoid = staticmethod(fast.sigmoid)
    softmax = staticmethod(fast.softmax)
    loss_and_gradient = staticmethod(fast.loss_and_gradient)


BACKEND = NumPy()
