"""BLAS threads chosen by measuring: ``fit``'s own step timed with one thread and with every core.

When neither ``blas_threads=`` nor ``XPNET_BLAS_THREADS`` fixes the count, the run scope holds a
:class:`ThreadChoice` and NumPy's stepper (:class:`MeasuredSteps`) asks it to measure before the
first step: a few steps on a scratch copy of the parameters (the run itself never sees them),
interleaved between the candidates, and the faster kept (one thread unless every core is at
least 5% faster). While the run goes on, each chunk's rate is watched; when it moves by more than
a quarter for two chunks in a row (another program took a core, or gave it back) the choice is
measured again. OpenBLAS splits its work differently with more threads, so the count can change
the last bits of the results: a run is reproducible to the bit for a given seed and thread
count, and the count (and when it changed) is recorded in the run's history.
"""

from __future__ import annotations

import contextvars
import functools
import statistics
import time
from typing import Any

from ..base import Stepper

#: What a candidate must gain over one thread to be chosen.
MARGIN = 0.95
#: A chunk rate this far from the rate after the last choice (either way) counts as a change.
DRIFT = 0.75
#: Rounds of the interleaved measurement, and the least time one trial takes.
ROUNDS, TRIAL_SECONDS = 3, 0.002

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
        """Time ``trial(n)`` (n steps) with each candidate, interleaved; keep the faster."""
        n = 1
        per_step: dict[int, list[float]] = {1: [], self.cores: []}
        while True:  # enough steps for a trial to be timed well
            started = time.perf_counter()
            trial(n)
            if time.perf_counter() - started >= TRIAL_SECONDS or n >= 64:
                break
            n *= 2
        for r in range(ROUNDS):
            for threads in (1, self.cores) if r % 2 == 0 else (self.cores, 1):
                self.use(threads)
                started = time.perf_counter()
                trial(n)
                per_step[threads].append((time.perf_counter() - started) / n)
        best = self.cores if statistics.median(per_step[self.cores]) < MARGIN * statistics.median(per_step[1]) else 1
        self.use(best)
        self.changes.append([done, best])
        return best


class MeasuredSteps(Stepper):
    """Runs ``step(params, data, idx)`` once per row, as the plain steps do, with the BLAS threads
    of ``choice`` measured before the first step and again when the rate drifts."""

    chunk = 100

    def __init__(self, step: Any, params: dict, data: tuple, xp: Any, choice: ThreadChoice):
        self.step, self.params, self.data, self.xp = functools.partial(step, xp=xp), params, data, xp
        self.choice = choice
        self.done, self.pending, self.reference, self.drifting = 0, True, 0.0, 0

    @property
    def blas_threads(self) -> int:
        return self.choice.threads

    def run(self, idx_rows: Any) -> Any:
        n = idx_rows.shape[0]
        if self.pending:
            self._measure(idx_rows[0, ...])
        started = time.perf_counter()
        losses = [self.step(self.params, self.data, idx_rows[i, ...]) for i in range(n)]
        self._watch(n / max(time.perf_counter() - started, 1e-9))
        self.done += n
        return self.xp.stack(losses)

    def _measure(self, idx: Any) -> None:
        scratch = {key: self.xp.asarray(value, copy=True) for key, value in self.params.items()}

        def trial(n):
            for _ in range(n):
                self.step(scratch, self.data, idx)

        self.choice.measure(trial, self.done)
        self.pending, self.reference, self.drifting = False, 0.0, 0

    def _watch(self, rate: float) -> None:
        """Measure again after two chunks in a row whose rate moved by more than :data:`DRIFT`."""
        if not self.reference:
            self.reference = rate
            return
        moved = rate < DRIFT * self.reference or rate * DRIFT > self.reference
        self.drifting = self.drifting + 1 if moved else 0
        self.pending = self.drifting >= 2

    def close(self) -> None:
        pass
