"""How NumPy runs many steps of K stacked nets: members side by side on a thread pool
(:class:`MemberSteps`), each with ``fit``'s own step; NumPy releases the GIL in its loops and
BLAS, so on a CPU the gain of a sweep is every core busy, and each member's result is its
separate ``fit``'s to the last bit."""

from __future__ import annotations

import concurrent.futures
import contextvars
import os
import threading

import numpy as np

from ..base import Stepper

_pool_state: dict = {}  # "pool": a ThreadPoolExecutor, "size": its threads, "pid": the process that made it


def _pool(size):
    """One thread pool for the process, of at least ``size`` threads, made on first use (again
    when more are asked for, and in a forked child, whose copy has no threads)."""
    if _pool_state.get("pid") != os.getpid() or _pool_state["size"] < size:
        if _pool_state.get("pid") == os.getpid():
            _pool_state["pool"].shutdown(wait=False)
        _pool_state.update(
            pool=concurrent.futures.ThreadPoolExecutor(size, thread_name_prefix="xpnet-member"),
            size=size,
            pid=os.getpid(),
        )
    return _pool_state["pool"]


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
