"""How JAX runs many training steps at once: xpnet's own step compiled and scanned.

The step ``fit`` hands in (``steps.step_of_data``: ``steps.sgd_step``, Array API only) is
traced once as a function of the parameters and the mini-batch indices, compiled with
``jax.jit``, and run ``steps_per_call`` steps per call with ``jax.lax.scan``; remainders run one
step at a time, so only two shapes are ever compiled. Stacked nets (``fit_many``) scan their
stacked step the same way.
"""

from __future__ import annotations

import functools

from ..base import Stepper


class ScanStepper(Stepper):
    """Runs ``step(params, data, idx)`` (which rebinds the entries of the dict it is given) as
    compiled scans; the data are arguments of the compiled function, not constants in it.

    Args:
        step: the step.
        params: the parameters' dict (updated after each call).
        data: the arrays the step reads.
        steps_per_scan: steps per compiled scan.
    """

    def __init__(self, step, params, data, steps_per_scan=10):
        self.params, self.data, self.k = params, tuple(data), int(steps_per_scan)
        self.chunk = max(100, self.k)
        self._scan = _compiled(step)

    def run(self, idx_rows):
        """One step per row of ``idx_rows``; the losses (on the device)."""
        import jax.numpy as jnp

        n = idx_rows.shape[0]
        p = {key: self.params[key] for key in self.params}
        losses, done = [], 0
        while done < n:
            k = self.k if n - done >= self.k else 1
            p, loss = self._scan(p, self.data, idx_rows[done : done + k, ...])
            losses.append(loss)
            done += k
        self.params.update(p)
        return losses[0] if len(losses) == 1 else jnp.concat(losses)

    def close(self):
        pass


@functools.cache
def _compiled(step):
    """The scan of ``step``, compiled by ``jax.jit`` (once per step function and shapes)."""
    import jax

    def body(p, data, idx):
        q = dict(p)
        loss = step(q, data, idx)
        return {key: q[key] for key in p}, loss

    return jax.jit(lambda p, data, rows: jax.lax.scan(lambda c, i: body(c, data, i), p, rows))
