"""The backends xpnet knows, one line each; which one serves an array; the plain-path switch.

Adding a backend is one package ``xpnet/backend/<name>/`` (a :class:`~xpnet.backend.base.Backend`
subclass and its instance ``BACKEND``) and one line in :data:`PACKAGES`. This is the one place
where xpnet loads a module of its own by name (:func:`get`), and the one cache of "which
backend is this" (:func:`backend_of`).
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import types
from collections.abc import Iterator
from typing import Any

import numpy as np

from .base import Backend

#: name -> (the package that implements it, the top-level modules its arrays and namespaces come from)
PACKAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "numpy": ("xpnet.backend.numpy", ("numpy",)),
    "cupy": ("xpnet.backend.cupy", ("cupy", "cupyx")),
    "array_api_strict": ("xpnet.backend.array_api_strict", ("array_api_strict",)),
    "torch": ("xpnet.backend.torch", ("torch",)),
    "jax": ("xpnet.backend.jax", ("jax", "jaxlib")),
}

#: What an object no backend owns gets: the base class, whose faster forms all decline.
PLAIN = Backend()

#: name, array type, or id of a namespace module -> its Backend (asked once each)
_cache: dict[Any, Backend] = {}


def get(name: str) -> Backend:
    """The backend called ``name`` (its package imported on first use: it imports no library itself)."""
    found = _cache.get(name)
    if found is None:
        if name not in PACKAGES:
            raise ValueError(f"unknown backend {name!r}: valid backends are {', '.join(PACKAGES)}")
        found = _cache[name] = importlib.import_module(PACKAGES[name][0]).BACKEND
    return found


def backend_of(obj: Any) -> Backend:
    """The backend of an array or an array namespace; :data:`PLAIN` where no backend owns it.

    ``array_api_compat.numpy`` counts as NumPy, ``jax.numpy`` as JAX; a namespace of a backend's
    own (CuPy's capture namespace) names its backend in ``xpnet_backend``.
    """
    if type(obj) is np.ndarray:  # the common case, without a lookup
        return get("numpy")
    key = id(obj) if isinstance(obj, types.ModuleType) else type(obj)
    found = _cache.get(key)
    if found is None:
        found = _cache[key] = _owner(obj)
    return found


def _owner(obj: Any) -> Backend:
    named = getattr(obj, "xpnet_backend", None)
    if isinstance(named, str) and named in PACKAGES:
        return get(named)
    module = obj.__name__ if isinstance(obj, types.ModuleType) else type(obj).__module__
    parts = module.split(".")
    top = parts[1] if parts[0] == "array_api_compat" and len(parts) > 1 else parts[0]
    for name, (_, tops) in PACKAGES.items():
        if top in tops:
            return get(name)
    return PLAIN


#: Whether faster forms and steppers are on here (:func:`accelerated`).
ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("xpnet_faster", default=True)


def faster(obj: Any) -> Backend:
    """The backend whose faster forms and steppers the math may use for ``obj`` (an array or a
    namespace): :func:`backend_of`, or :data:`PLAIN` on the plain path (:func:`accelerated`)."""
    return backend_of(obj) if ENABLED.get() else PLAIN


@contextlib.contextmanager
def accelerated(enabled: bool = True) -> Iterator[None]:
    """Switch faster forms and steppers on or off inside the block (off: the plain path)."""
    token = ENABLED.set(bool(enabled))
    try:
        yield
    finally:
        ENABLED.reset(token)
