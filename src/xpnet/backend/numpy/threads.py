"""BLAS threads chosen by measuring: ``fit``'s own step timed with one thread and with every core.

When neither ``blas_threads=`` nor ``XPNET_BLAS_THREADS`` fixes the count, the run scope holds a
:class:`ThreadChoice` and NumPy's stepper (:class:`MeasuredSteps`) asks it to measure before the
first step: a few steps on a scratch copy of the parameters (the run itself never sees them),
interleaved between the candidates, and the faster kept (one thread unless every core is at
least 5% faster). While the run goes on, each chunk's rate is watched; when it moves by more than
30% for three chunks in a row, or 30 seconds have passed (another program took a core, or gave it back) the choice is
measured again. OpenBLAS splits its work differently with more threads, so the count can change
the last bits of the results: a run is reproducible to the bit for a given seed and thread
count, and the count (and when it changed) is recorded in the run's history.
"""

from __future__ import annotations

import contextvars
import functools
import math
import statistics
import time
from typing import Any

from ..base import Stepper

#: What a candidate must gain over one thread to be chosen.
MARGIN = 0.95
#: A chunk rate this far from the rate after the last choice (either way) counts as a change.
DRIFT = 0.7
#: Rounds of the interleaved measurement, and about how long one trial takes: long enough to span
#: the scheduler's slices on a busy machine (shorter trials there can catch the other program
#: asleep and pick every core); the whole measurement is some 30 ms, 1% of the book's 10,000 steps.
ROUNDS, TRIAL_SECONDS = 3, 0.005

#: Chunks in a row whose rate moved before the choice is measured again; every choice is looked
#: at again after :data:`RECHECK_SECONDS` in any case (a machine that became idle).
DRIFTING, RECHECK_SECONDS = 3, 30.0

CURRENT: contextvars.ContextVar[ThreadChoice | None] = contextvars.ContextVar("xpnet_blas_choice", default=None)


class ThreadChoice:
    """The BLAS threads of one run: one or ``cores``, set through threadpoolctl.

    ``threads``: the count in effect; ``changes``: ``[steps done before, threads]`` for every
    choice made (the first at 0).
    """

    def __init__(self, cores: int):
        from threadpoolctl import ThreadpoolController

        self.cores, self.threads = cores, 1
        self.changes: list[list[int]] = []
        self._blas = ThreadpoolController().select(user_api="blas")

    def use(self, threads: int) -> None:
        """Set the BLAS threads (for the rest of the run scope)."""
        self._blas.limit(limits=threads)
        self.threads = threads

    def measure(self, trial: Any, done: int) -> int:
        """Time ``trial(n)`` (n steps) with each candidate, interleaved; keep the faster (the medians),
        stopping early where every core is clearly slower (each such trial is costly)."""
        started = time.perf_counter()
        trial(1)
        n = max(1, min(64, math.ceil(TRIAL_SECONDS / max(time.perf_counter() - started, 1e-9))))
        per_step: dict[int, list[float]] = {1: [], self.cores: []}
        for r in range(ROUNDS):
            for threads in (1, self.cores) if r % 2 == 0 else (self.cores, 1):
                self.use(threads)
                started = time.perf_counter()
                trial(n)
                per_step[threads].append((time.perf_counter() - started) / n)
            if min(per_step[self.cores]) > 1.5 * max(per_step[1]):  # a busy core: more threads lose, clearly
                break
        best = self.cores if statistics.median(per_step[self.cores]) < MARGIN * statistics.median(per_step[1]) else 1
        self.use(best)
        self.changes.append([done, best])
        return best


class MeasuredSteps(Stepper):
    """Runs ``step(params, data, idx)`` once per row, as the plain steps do, with the BLAS threads
    of ``choice`` measured before the first step, again when the rate drifts, and again every
    :data:`RECHECK_SECONDS`."""

    chunk = 100

    def __init__(self, step: Any, params: dict, data: tuple, xp: Any, choice: ThreadChoice):
        self.step, self.params, self.data, self.xp = functools.partial(step, xp=xp), params, data, xp
        self.choice = choice
        self.done, self.pending, self.reference, self.drifting, self.measured_at = 0, True, 0.0, 0, 0.0

    @property
    def blas_threads(self) -> int:
        return self.choice.threads

    def run(self, idx_rows: Any) -> Any:
        n = idx_rows.shape[0]
        if self.pending:
            self._choose(idx_rows[0, ...])
        started = time.perf_counter()
        losses = [self.step(self.params, self.data, idx_rows[i, ...]) for i in range(n)]
        self._watch(n / max(time.perf_counter() - started, 1e-9), (n,) + tuple(idx_rows.shape[1:]))
        self.done += n
        return self.xp.stack(losses)

    def _choose(self, idx: Any) -> None:
        """Measure on a scratch copy of the parameters (the run never sees those steps)."""
        scratch = {key: self.xp.asarray(value, copy=True) for key, value in self.params.items()}

        def trial(n):
            for _ in range(n):
                self.step(scratch, self.data, idx)

        self.choice.measure(trial, self.done)
        self.pending, self.reference, self.drifting, self.measured_at = False, 0.0, 0, time.perf_counter()

    def _watch(self, rate: float, shape: tuple) -> None:
        """Measure again after :data:`DRIFTING` chunks in a row whose rate moved by more than
        :data:`DRIFT` (either way), and every :data:`RECHECK_SECONDS`."""
        if shape[0] < 10:  # a short chunk (one step before the first evaluation): no rate to speak of
            return
        if not self.reference:
            self.reference = rate
        moved = rate < DRIFT * self.reference or rate * DRIFT > self.reference
        self.drifting = self.drifting + 1 if moved else 0
        self.pending = self.drifting >= DRIFTING or time.perf_counter() - self.measured_at > RECHECK_SECONDS

    def close(self) -> None:
        pass
