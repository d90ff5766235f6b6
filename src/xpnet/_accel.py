"""Registry of backend-specific fused kernels (behind the backend boundary).

The math in xpnet is written once with array-API calls. A backend may
register a faster implementation of *the same formula* for a few named
steps (``"sigmoid"``, ``"sgd_update"``, ...); the math asks
:func:`lookup` and falls back to its own code when nothing is registered or
acceleration is switched off. Parity tests compare both paths.
"""

from __future__ import annotations

import contextlib
import contextvars

from .backend import backend_of

_registry: dict[tuple[str, str], object] = {}
_loaded: set[str] = set()
_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar("xpnet_accel", default=True)


def register(backend: str, name: str, fn) -> None:
    _registry[(backend, name)] = fn


def lookup(name: str, xp):
    """The fused implementation of ``name`` for namespace ``xp``, or None."""
    if not _enabled.get():
        return None
    backend = backend_of(getattr(xp, "base", xp))
    if backend == "cupy" and "cupy" not in _loaded:
        _loaded.add("cupy")
        from ._cuda import kernels  # noqa: F401  (registers on import)
    return _registry.get((backend, name))


@contextlib.contextmanager
def accelerated(enabled: bool = True):
    """Switch fused kernels on or off inside the block (plain path: off)."""
    token = _enabled.set(bool(enabled))
    try:
        yield
    finally:
        _enabled.reset(token)
