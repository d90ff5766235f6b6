"""The backends xpnet knows: one line each, and the one map from an array or a namespace to its name.

Adding a backend is a package ``accel/<name>/`` (its ``__init__`` answers the
:class:`xpnet.accel.contract.Library` hooks; an optional ``api.py`` the
:class:`xpnet.accel.contract.Acceleration` hooks) and one line in :data:`BACKENDS`.
This module imports nothing of xpnet, so every other module may ask it.
"""

from __future__ import annotations

import importlib
import types

#: name -> (its package under ``xpnet.accel``, the top-level modules its arrays and namespaces come from)
BACKENDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "numpy": ("xpnet.accel.numpy", ("numpy",)),
    "cupy": ("xpnet.accel.cupy", ("cupy", "cupyx")),
    "array_api_strict": ("xpnet.accel.array_api_strict", ("array_api_strict",)),
    "torch": ("xpnet.accel.torch", ("torch",)),
    "jax": ("xpnet.accel.jax", ("jax", "jaxlib")),
}

_TOPS = {top: name for name, (_, tops) in BACKENDS.items() for top in tops}


class BackendError(RuntimeError):
    """A backend was asked for that cannot be used on this machine."""


def backend_of(obj) -> str | None:
    """The backend name of an array or an array namespace (None when no backend owns it).

    Namespaces that wrap another name theirs in ``backend`` (CuPy's capture namespace);
    ``array_api_compat.numpy`` counts as ``numpy``, ``jax.numpy`` as ``jax``.
    """
    named = getattr(obj, "backend", None)
    if isinstance(named, str) and named in BACKENDS:
        return named
    module = obj.__name__ if isinstance(obj, types.ModuleType) else type(obj).__module__
    parts = module.split(".")
    top = parts[1] if parts[0] == "array_api_compat" and len(parts) > 1 else parts[0]
    return _TOPS.get(top)


_packages: dict[str, types.ModuleType] = {}


def package(name: str) -> types.ModuleType:
    """The package ``accel/<name>/`` (imported on first use; it imports no array library itself)."""
    mod = _packages.get(name)
    if mod is None:
        if name not in BACKENDS:
            raise ValueError(f"unknown backend {name!r}: valid backends are {', '.join(BACKENDS)}")
        mod = _packages[name] = importlib.import_module(BACKENDS[name][0])
    return mod


_apis: dict[str, object] = {}


def api(name: str | None):
    """The acceleration module ``accel/<name>/api.py`` of a backend, or None (none, or not a backend).

    Only asked once arrays of that backend exist, so its library is importable."""
    if name not in _apis:
        if name not in BACKENDS:
            return None
        try:
            _apis[name] = importlib.import_module(BACKENDS[name][0] + ".api")
        except ModuleNotFoundError as exc:
            if exc.name != BACKENDS[name][0] + ".api":
                raise
            _apis[name] = None
    return _apis[name]
