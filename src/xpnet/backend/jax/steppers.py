"""How JAX runs many training steps at once: xpnet's own step compiled into one loop.

The step ``fit`` hands in (``steps.step_of_data``: ``steps.sgd_step``, Array API only) is
traced once as a function of the parameters, the data and a block of mini-batch indices,
and compiled with ``jax.jit`` into a ``jax.lax.fori_loop`` whose trip count is an argument:
one program for every number of steps up to the block's length, so every step of a run goes
through the same compiled code however the run loop divides the run (no second shape, no
single steps, the same bits). The indices come from the host, padded to the block's length,
one transfer per call; the losses stay on the device until the whole chunk is queued, so the
host waits once per chunk. Stacked nets (``fit_many``) loop over their stacked step the same way.
"""

from __future__ import annotations

import functools
import time

import numpy as np

from ..base import Stepper

ROW_BUDGET = 2_000_000
"""Most index entries (steps x rows per step) one compiled call takes: 1,000 steps of 100 rows
and up to 2,000 rows per step at the book's batch sizes; a 16 MB host block."""

MOST_STEPS = 1000
"""Most steps per compiled call (the block's length) when none is asked for."""

CHUNK_SECONDS = 0.25
"""About how long a chunk (steps between reads of the losses on the host) should take: the
progress bar's refresh, and rare enough that the wait for the losses costs nothing."""


class ScanStepper(Stepper):
    """Runs ``step(params, data, idx)`` (which rebinds the entries of the dict it is given) as one
    compiled loop over a block of indices; the data are arguments of the compiled function, not
    constants in it.

    Args:
        step: the step.
        params: the parameters' dict (updated after each call).
        data: the arrays the step reads.
        steps_per_call: steps per compiled call (the block's length); None: up to
            :data:`MOST_STEPS`, fewer where a step takes many rows (:data:`ROW_BUDGET`).

    ``chunk`` starts at 100 steps and then follows the measured rate (about
    :data:`CHUNK_SECONDS` of steps, at most one call's worth); the results do not depend on it.
    """

    host_rows = True  # the indices as NumPy rows: padded and sent with each call

    def __init__(self, step, params, data, steps_per_call=None):
        import jax

        # every array committed to the data's device, as the loop's outputs are: one compiled
        # program, not a second one for the parameters the first call returns
        arrays = [d for d in data if isinstance(d, jax.Array)]
        device = next(iter(arrays[0].devices())) if arrays else None
        if device is not None:
            params.update(jax.device_put(dict(params), device))
        self.params = params
        self.data = tuple(jax.device_put(d, device) if isinstance(d, jax.Array) else d for d in data)
        self.k = None if steps_per_call is None else max(1, int(steps_per_call))
        self.chunk = 100 if self.k is None else min(100, self.k)
        self._loop, self._runs = _compiled(step), 0

    def run(self, idx_rows):
        """One step per row of ``idx_rows``; the losses, read to the host once all are queued."""
        rows = np.asarray(idx_rows)
        n, t0 = rows.shape[0], time.perf_counter()
        if self.k is None:
            per_step = max(1, int(np.prod(rows.shape[1:])))
            self.k = max(1, min(MOST_STEPS, ROW_BUDGET // per_step))
        p, queued = dict(self.params), []
        for start in range(0, n, self.k):
            m = min(self.k, n - start)
            block = np.zeros((self.k,) + rows.shape[1:], dtype=rows.dtype)
            block[:m] = rows[start : start + m]
            p, losses = self._loop(p, self.data, block, m)
            queued.append((losses, m))
        self.params.update(p)
        out = np.concatenate([np.asarray(losses)[:m] for losses, m in queued])
        self._runs += 1
        if self._runs > 1:  # the first run compiles: its rate says nothing
            rate = n / max(time.perf_counter() - t0, 1e-9)
            self.chunk = max(1, min(self.k, int(rate * CHUNK_SECONDS)))
        return out

    def close(self):
        pass


@functools.cache
def _compiled(step):
    """``step`` looped ``n`` times over the first ``n`` rows of a block, compiled by ``jax.jit``
    (once per step function and shapes; ``n`` is an argument, not a shape)."""
    import jax
    import jax.numpy as jnp

    def body(p, data, idx):
        q = dict(p)
        loss = step(q, data, idx)
        return {key: q[key] for key in p}, loss

    def loop(p, data, block, n):
        shape = jax.eval_shape(lambda: body(p, data, block[0])[1])
        losses = jnp.zeros((block.shape[0],) + shape.shape, dtype=shape.dtype)

        def one(i, carry):
            q, kept = carry
            q, loss = body(q, data, block[i])
            return q, kept.at[i].set(loss)

        return jax.lax.fori_loop(0, n, one, (p, losses))

    return jax.jit(loop)


def all_finite(arrays, stacked):
    """``runloop.finite``'s check of ``arrays`` (a tuple) as one compiled call."""
    return _finite_program()(arrays, stacked)


@functools.cache
def _finite_program():
    import jax
    import jax.numpy as jnp

    def check(arrays, stacked):
        per = [jnp.all(jnp.isfinite(a), axis=tuple(range(1, a.ndim)) if stacked else None) for a in arrays]
        return jnp.all(jnp.stack(per), axis=0)

    return jax.jit(check, static_argnums=1)
