"""JAX: xpnet's own training step compiled once with ``jax.jit`` and run many steps at a time
with ``jax.lax.scan`` (``api.py``), the counterpart of CuPy's CUDA graphs."""

from __future__ import annotations

from ..registry import BackendError


def load():
    try:
        import jax
    except ImportError as exc:
        raise BackendError("backend 'jax' asked for, but JAX is not installed: pip install 'xpnet[jax]'") from exc
    # float64 is every backend's default (the book's numbers); JAX needs it switched on, for the process
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as xp
    return xp


def device_name(xp, device) -> str:
    import jax
    device = jax.devices()[0] if device is None else device
    return f"{device.device_kind} ({device})" if device.platform != "cpu" else f"cpu ({device})"


def synchronize(xp) -> None:
    pass  # the run loop reads every chunk's losses, which waits for them


def describe() -> list[str]:
    try:
        import jax
    except ImportError:
        return []
    return [f"jax {jax.__version__}: devices {', '.join(str(d) for d in jax.devices())}"]


def to_numpy(x):
    """A host copy (or view) of an array of this library."""
    import numpy as np
    return np.asarray(x)


def on_device(device):
    """Where new arrays go: ``device=`` says it for this library (nothing to enter)."""
    import contextlib
    return contextlib.nullcontext()
