"""JAX: xpnet's own training step compiled once with ``jax.jit`` and run many steps at a time
in one compiled loop (``steppers.py``), the counterpart of CuPy's CUDA graphs; no faster forms
(XLA fuses the Array-API code by itself) but one: the mini-batch's rows gathered without
bounds handling."""

from __future__ import annotations

from typing import Any

from ..base import Backend, BackendError


class Jax(Backend):
    """JAX arrays (``jax.numpy``, an Array-API namespace), in float64 like every backend."""

    name = "jax"

    def load(self) -> Any:
        try:
            import jax
        except ImportError as exc:
            raise BackendError(
                "backend 'jax' asked for, but JAX is not installed: pip install '.[jax]' from a checkout of xpnet"
            ) from exc
        except Exception as exc:  # a broken install raises anything on import: one line, not a traceback
            raise BackendError(
                f"backend 'jax' could not be loaded: importing JAX raised {type(exc).__name__}: {exc}; "
                "reinstall it (pip install --force-reinstall '.[jax]') or choose another backend"
            ) from exc
        # float64 is every backend's default (the book's numbers); JAX needs it switched on, for the process
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as xp

        return xp

    def device_name(self, xp: Any, device: Any) -> str:
        import jax

        device = jax.devices()[0] if device is None else device
        return f"{device.device_kind} ({device})" if device.platform != "cpu" else f"cpu ({device})"

    def describe(self) -> list[str]:
        try:
            import jax
        except ImportError:
            return []
        return [f"jax {jax.__version__}: devices {', '.join(str(d) for d in jax.devices())}"]

    def stepper(self, step, params, data, steps_per_call):
        """A :class:`~xpnet.backend.jax.steppers.ScanStepper`: ``steps_per_call`` steps per compiled
        call, or (True, "auto") as many as one call takes well (up to 1,000; the chunks between reads
        of the loss follow the measured rate, the results do not)."""
        from .steppers import ScanStepper

        k = None if steps_per_call is True or steps_per_call == "auto" else int(steps_per_call)
        return ScanStepper(step, params, data, k)

    def stacked_stepper(self, step, params, data, steps_per_call, *, member_step, member, active, workers=None):
        """K stacked nets: the stacked Array-API ``step`` (batched matmul, one update per member,
        the inactive ones masked in ``data``) looped like ``fit``'s; ``jax.vmap`` of the member step
        would compute the same batched pass."""
        return self.stepper(step, params, data, steps_per_call)

    def batch_rows(self, x, idx):
        """The mini-batch's rows as ``take`` with ``mode="clip"``: the same rows (the indices are in range),
        without the out-of-range fill ``xp.take`` pays for (3% of a float32 step at the book's size)."""
        import jax.numpy as jnp

        return jnp.take(x, idx, axis=0, mode="clip")

    def finite(self, arrays, stacked):
        """The finiteness check as one compiled call (one dispatch, no small program per array)."""
        from .steppers import all_finite

        return all_finite(tuple(arrays), stacked)


BACKEND = Jax()
