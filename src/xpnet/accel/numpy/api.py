"""What the NumPy backend offers ``xpnet.accel``.

One replacement: the book's backprop pass (``nets.loss_and_gradient``) with
the same formulas in the same order, written with NumPy's in-place ufuncs
(``out=``), so a step allocates and checks less; its results are the Array-API
pass's to the last bit (``tests/test_accel.py``). NumPy's loops release the GIL,
so independent chunks run in a thread pool; BLAS threads are sized to a step.
Stacked nets (``fit_many``) are stepped member by member, each with ``fit``'s own
step, members side by side on a thread pool (:class:`MemberSteps`): on a CPU the
gain of a sweep comes from using every core, and each member's result is its
separate ``fit``'s to the last bit.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import os
import threading

import numpy as np

from ... import functions, nets
from ..contract import Stepper
from ...constants import DELTA


def loss_and_gradient(params, x, t, xp=None, with_loss=True):
    """Replaces ``xpnet.nets.loss_and_gradient`` for float NumPy arrays: the same operations,
    in the same order, in place where the Array-API code makes a temporary."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    arrays = (x, t, W1, b1, W2, b2)
    if (any(type(a) is not np.ndarray or a.dtype != x.dtype for a in arrays) or x.dtype.kind != "f"
            or x.ndim != 2):  # stacked nets: the Array-API pass
        return NotImplemented
    batch_num = x.shape[0]
    a1 = np.matmul(x, W1)
    a1 += b1
    e = np.abs(a1)  # sigmoid(a1) = where(a1 >= 0, 1, e) / (1 + e), e = exp(-|a1|)
    np.negative(e, out=e)
    np.exp(e, out=e)
    z1 = np.where(a1 >= 0, x.dtype.type(1.0), e)
    e += 1
    z1 /= e
    a2 = np.matmul(z1, W2)
    a2 += b2
    big = np.finfo(x.dtype).max
    np.clip(a2, -big, big, out=a2)  # softmax: +-inf as the largest finite numbers
    m = np.max(a2, axis=-1, keepdims=True)  # softmax(a2) = exp(a2/2 - m/2) ** 2 / sum(...)
    m /= 2
    y = a2 / 2
    y -= m
    np.exp(y, out=y)
    y *= y
    y /= np.sum(y, axis=-1, keepdims=True)
    y_delta = y + DELTA
    loss = -np.sum(t * np.log(y_delta), axis=(-2, -1)) / batch_num if with_loss else None
    s = t * y
    s /= y_delta
    dy = y * np.sum(s, axis=1, keepdims=True)
    dy -= s
    dy /= batch_num
    grads = {"W1": None, "b1": None, "W2": np.matmul(z1.T, dy), "b2": np.sum(dy, axis=0)}
    dz1 = np.matmul(dy, W2.T)  # da1, then da1 * (1 - z1) * z1 in place
    dz1 *= 1 - z1
    dz1 *= z1
    grads["W1"] = np.matmul(x.T, dz1)
    grads["b1"] = np.sum(dz1, axis=0)
    return loss, grads


def sigmoid_of(x):
    """Replaces ``xpnet.functions.sigmoid_of`` for float NumPy arrays, value for value:
    ``where(x >= 0, 1, e) / (1 + e)`` with ``e = exp(-|x|)``, its numerator computed as
    ``exp(min(x, 0))`` (the same numbers: ``exp(0) = 1`` where ``x >= 0``, ``exp(x) = e`` below,
    NaN kept), which spares the select that costs most at the book's size (the book's own code
    calls ``sigmoid`` directly: every microsecond of a call shows)."""
    if type(x) is not np.ndarray or x.dtype.kind != "f" or x.ndim == 0:
        return NotImplemented
    e = np.abs(x)
    np.negative(e, out=e)
    np.exp(e, out=e)  # e = exp(-|x|)
    z = np.minimum(x, x.dtype.type(0.0))
    np.exp(z, out=z)  # where(x >= 0, 1, e)
    e += 1
    z /= e
    return z


def softmax_of(x):
    """Replaces ``xpnet.functions.softmax_of`` for float NumPy arrays: the same operations in the
    same order (clip, halved exponent, squared, normalised), in place."""
    if type(x) is not np.ndarray or x.dtype.kind != "f" or x.ndim == 0:
        return NotImplemented
    big = np.finfo(x.dtype).max
    y = np.clip(x, -big, big)  # +-inf as the largest finite numbers
    m = np.max(y, axis=-1, keepdims=True)
    m /= 2
    y /= 2
    y -= m
    np.exp(y, out=y)
    y *= y
    y /= np.sum(y, axis=-1, keepdims=True)
    return y


REPLACEMENTS: dict = {nets.loss_and_gradient: loss_and_gradient, functions.sigmoid_of: sigmoid_of,
                      functions.softmax_of: softmax_of}

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


#: Threads for :func:`parallel_map` and for members side by side (one per core, at most 8).
WORKERS = min(_cores(), 8)


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


def blas_line():
    """The BLAS NumPy loaded, its threads, and how ``fit`` chooses them (for ``xpnet info``)."""
    try:
        libs = blas_info()
    except Exception as exc:  # threadpoolctl missing or failing
        return f"unknown ({type(exc).__name__})"
    found = ", ".join(f"{name} {ver or ''} with {threads} threads".replace("  ", " ") for name, ver, threads in libs)
    env = os.environ.get(THREADS_ENV, "")
    choice = (f"{THREADS_ENV}={env}" if env else
              f"1 thread below {SMALL_STEP_FLOPS:.0e} flops a step (the book's step: 1.6e+07), "
              f"else all; --blas-threads or {THREADS_ENV} to choose")
    return f"{found or 'none found'}; fit uses {choice}"


# ------------------------------------------------------------------ stacked nets

_pool_state: dict = {}  # "pool": a ThreadPoolExecutor, "size": its threads, "pid": the process that made it


def _pool(size):
    """One thread pool for the process, of at least ``size`` threads, made on first use (again
    when more are asked for, and in a forked child, whose copy has no threads)."""
    if _pool_state.get("pid") != os.getpid() or _pool_state["size"] < size:
        if _pool_state.get("pid") == os.getpid():
            _pool_state["pool"].shutdown(wait=False)
        _pool_state.update(pool=concurrent.futures.ThreadPoolExecutor(size, thread_name_prefix="xpnet-member"),
                           size=size, pid=os.getpid())
    return _pool_state["pool"]


def make_stacked_stepper(step, params, data, xp, steps_per_call, *, member_step, member, active, workers=None):
    """:class:`MemberSteps` (the stacked Array-API ``step`` is not used: on NumPy,
    one member at a time per core is faster than the batched pass)."""
    return MemberSteps(member_step, member, active, xp, WORKERS if workers is None else workers)


class MemberSteps(Stepper):
    """Runs ``member_step`` for every active member over a chunk of steps; members are
    independent, so up to ``workers`` of them run side by side on threads (NumPy
    releases the GIL in its loops and BLAS), one chunk per member without a pause.

    Ctrl-C while waiting stops every member at its next step, then raises; the
    caller rolls the chunk back.
    """

    def __init__(self, member_step, member, active, xp, workers):
        self.member_step, self.member, self.xp = member_step, member, xp
        self.members = [int(m) for m in np.flatnonzero(active)]
        self.k, self.workers, self.chunk = len(active), max(1, int(workers)), 100

    def run(self, idx_rows):
        """One step per row of ``idx_rows`` (n, K, batch) for each active member; the
        losses (n, K) as float64, NaN for the members not stepped."""
        n = idx_rows.shape[0]
        losses = np.full((n, self.k), np.nan)
        stop = threading.Event()
        members = [(m, *self.member(m)) for m in self.members]  # the arrays of now, before any thread starts

        def steps(share):
            for m, p, d in share:
                for i in range(n):
                    if stop.is_set():
                        return
                    losses[i, m] = self.member_step(p, d, idx_rows[i, m, :], xp=self.xp)

        workers = min(self.workers, len(members))
        if workers < 2:
            steps(members)
            return losses
        futures = []
        try:
            pool = _pool(workers)  # one task per thread, each a share of the members
            for j in range(workers):
                futures.append(pool.submit(contextvars.copy_context().run, steps, members[j::workers]))
            concurrent.futures.wait(futures, return_when=concurrent.futures.FIRST_EXCEPTION)
            for f in sorted(futures, key=lambda f: not (f.done() and f.exception() is not None)):
                f.result()  # a failed share first: its error is raised without waiting for the others
        except BaseException:
            stop.set()  # Ctrl-C, or a member's error: the others stop at their next step
            concurrent.futures.wait(futures)
            raise
        return losses

    def close(self):
        pass
