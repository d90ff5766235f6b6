"""Backends: which array library and device new arrays go to, which namespace an array uses, moving arrays.

Every xpnet function takes its array namespace from its inputs
(``array_namespace``), so arrays that live on the GPU stay there. The
*active backend* only decides where *new* arrays are made: initial weights,
loaded data, ``xpnet.asarray``.

The active backend is, in order of precedence:

1. the innermost ``with xpnet.use_backend(name):`` block,
2. the last ``xpnet.set_backend(name)`` call,
3. the environment variable ``XPNET_BACKEND``,
4. ``"numpy"``.

A device goes with it: ``name:device`` (``torch:cuda:1``, ``cupy:1``,
``jax:cpu:1``), the ``device=`` argument of :func:`set_backend` and
:func:`use_backend`, or ``XPNET_DEVICE`` (with ``XPNET_BACKEND``). Devices are
named as the library lists them (``__array_namespace_info__().devices()``):
``cpu``, ``cuda:1``, ``cpu:1``, or an index into that list; an unknown one is an
error that lists them. No device: the library's default.

This package is xpnet's backend layer: ``base.py`` is the contract (the :class:`Backend`
class), ``registry.py`` lists the backends and maps an array to its backend, and
``numpy/``, ``cupy/``, ``jax/``, ``torch/``, ``array_api_strict/`` are one backend each
(``__init__.py``: the library; ``fast.py``: faster forms; ``steppers.py``: many steps at
once). The backends never import the math; the math asks them.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from typing import Any

import array_api_compat
import numpy as np

from . import registry
from .base import Backend, BackendError, Stepper
from .lean_numpy import namespace as _compat_numpy
from .registry import accelerated, backend_of, faster

_NUMPY_NS = _compat_numpy()  # the namespace of plain NumPy arrays

__all__ = [
    "check_blas_threads",
    "BACKENDS",
    "Backend",
    "BackendError",
    "Stepper",
    "accelerated",
    "asarray",
    "backend_available",
    "backend_of",
    "device_name",
    "dtype_name",
    "faster",
    "float_dtype",
    "get_backend",
    "get_device",
    "get_namespace",
    "namespace",
    "set_backend",
    "synchronize",
    "to_numpy",
    "use_backend",
]

#: The backends' names, from the one registry (``registry.py``).
BACKENDS = tuple(registry.PACKAGES)
ENV_VAR = "XPNET_BACKEND"
DEVICE_ENV_VAR = "XPNET_DEVICE"

_explicit: tuple | None = None  # (name, device spec or None)
_context: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("xpnet_backend", default=None)


def _parse(spec: Any, what: Any = "backend", device: Any = None) -> Any:
    """``"torch:cuda:1"`` -> ``("torch", "cuda:1")``; ``device`` given separately wins. ValueError
    listing the valid names for an unknown one."""
    name, _, suffix = spec.strip().partition(":") if isinstance(spec, str) else (spec, "", "")
    if not isinstance(name, str) or name.strip().lower() not in registry.PACKAGES:
        raise ValueError(f"unknown {what} {name!r}: valid backends are {', '.join(registry.PACKAGES)}")
    return name.strip().lower(), device if device is not None else (suffix.strip() or None)


def _active() -> Any:
    """``(name, device spec)`` of the active backend."""
    for chosen in (_context.get(), _explicit):
        if chosen is not None:
            return chosen
    env = os.environ.get(ENV_VAR, "").strip()
    name, device = _parse(env, what=f"{ENV_VAR} value") if env else ("numpy", None)
    if device is None:
        device = os.environ.get(DEVICE_ENV_VAR, "").strip() or None
    return name, device


def get_backend() -> str:
    """Name of the active backend (see the module docstring for precedence)."""
    return _active()[0]


def get_device(backend: str | None = None) -> Any:
    """The device new arrays of ``backend`` (the active one by default) are made on, or None
    for the library's default. A ``backend`` given as ``name:device`` names its own."""
    if backend is None:
        name, spec = _active()
    else:
        name, spec = _parse(backend)
        if spec is None and name == _active()[0]:
            spec = _active()[1]
    return resolve_device(name, spec)


def set_backend(name: str, device: str | None = None) -> None:
    """Make ``name`` (``"jax"``, or with a device, ``"torch:cuda:1"``) the active backend.

    Args:
        name: one of ``numpy``, ``cupy``, ``array_api_strict``, ``torch``, ``jax``,
            optionally followed by ``:device``.
        device: the device for new arrays (see the module docstring).

    Raises:
        ValueError: unknown name or device (the message lists the valid ones).
        BackendError: the backend's library is missing or has no device.
    """
    global _explicit
    chosen = _parse(name, device=device)
    get_namespace(chosen[0])  # fail now, not at the first array
    resolve_device(*chosen)
    _explicit = chosen


@contextlib.contextmanager
def use_backend(name: str, device: str | None = None) -> Iterator[Any]:
    """Context manager: make ``name`` (and ``device``) the active backend inside the block."""
    chosen = _parse(name, device=device)
    get_namespace(chosen[0])
    resolve_device(*chosen)
    token = _context.set(chosen)
    try:
        yield get_namespace(chosen[0])
    finally:
        _context.reset(token)


def resolve_device(name: str, spec: str | None) -> Any:
    """The device object ``spec`` names among backend ``name``'s devices (None for None).

    Raises:
        ValueError: no such device (the message lists the library's devices).
    """
    return registry.get(name).device(spec)


def get_namespace(name: str | None = None) -> Any:
    """The array namespace of a backend (the active one by default).

    Raises:
        ValueError: unknown name.
        BackendError: the library is missing, or (cupy) no CUDA device.
    """
    return registry.get(get_backend() if name is None else _parse(name)[0]).namespace()


def backend_available(name: str) -> bool:
    """True when ``get_namespace(name)`` would succeed."""
    try:
        get_namespace(name)
    except BackendError:
        return False
    return True


# ---------------------------------------------------------------- namespaces


def namespace(*arrays: Any) -> Any:
    """The array namespace shared by ``arrays`` (DeZero's ``xp = ...``).

    Python scalars and ``None`` are ignored.

    Raises:
        TypeError: the arrays come from different libraries, or live on
            different devices, or one is not an array at all.
    """
    for a in arrays:  # the common case, all NumPy arrays, without the general checks
        if type(a) is not np.ndarray:
            break
    else:
        if arrays:
            return _NUMPY_NS
    arrs = [a for a in arrays if a is not None and not isinstance(a, (bool, int, float, complex))]
    try:
        xp = array_api_compat.array_namespace(*arrs)
    except TypeError as exc:
        kinds = sorted({type(a).__module__.split(".")[0] + "." + type(a).__name__ for a in arrs})
        raise TypeError(
            "inputs must be arrays of one library on one device, got "
            + (", ".join(kinds) or "no arrays")
            + "; move them with xpnet.to_numpy(...) or xpnet.asarray(..., backend=...)"
        ) from exc
    if len(arrs) > 1:
        devices: list[Any] = []
        for a in arrs:
            d = array_api_compat.device(a)
            if d is None:  # a traced array (jax.jit, jax.grad) has no device yet: nothing to compare
                continue
            if all(d != e for e in devices):
                devices.append(d)
        if len(devices) > 1:
            raise TypeError(
                f"inputs live on different devices ({', '.join(map(str, devices))}); "
                "move them to one device first (xpnet.asarray(x, device=...))"
            )
    return xp


# ---------------------------------------------------------------- moving data


def to_numpy(x: Any) -> np.ndarray:
    """Copy an array of any backend to a NumPy array on the host.

    Python scalars and NumPy arrays come back as NumPy arrays.
    """
    if isinstance(x, np.ndarray):
        return x
    if array_api_compat.is_array_api_obj(x):
        return backend_of(x).to_numpy(x)
    return np.asarray(x)


def asarray(x: Any, dtype: Any = None, backend: str | None = None, device: Any = None) -> Any:
    """Place ``x`` (a host array, list or scalar) on a backend.

    Args:
        x: anything ``numpy.asarray`` accepts, or an array of any backend.
        dtype: ``"float32"``, ``"float64"``, a NumPy dtype or a namespace dtype.
        backend: backend name; the active one by default.
        device: a device of that backend (default: its default device).

    Returns:
        An array of that backend's namespace.
    """
    name = get_backend() if backend is None else _parse(backend)[0]
    xp = get_namespace(name)
    if device is None:
        device = get_device(backend)
    host = to_numpy(x) if array_api_compat.is_array_api_obj(x) else np.asarray(x)
    if dtype is not None:
        host = host.astype(np.dtype(dtype_name(dtype)), copy=False)
    if host.dtype.byteorder not in ("=", "|"):
        host = host.astype(host.dtype.newbyteorder("="))
    if not host.flags.c_contiguous or not host.flags.aligned:  # unaligned (a Dask worker's buffers): 100x slower
        host = np.array(host, order="C")
    kwargs = {} if device is None else {"device": device}
    return xp.asarray(host, **kwargs)


def dtype_name(dtype: Any) -> str:
    """Canonical name (``"float32"``/``"float64"``/...) of a dtype given any way."""
    if isinstance(dtype, str):
        name = dtype
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = str(dtype).rsplit(".", 1)[-1]
    return name


def float_dtype(xp: Any, dtype: Any) -> Any:
    """The namespace's floating dtype for ``dtype`` (float32 or float64).

    Raises:
        ValueError: dtype is not float32 or float64.
        BackendError: the library makes float32 when asked for float64 (JAX with its x64 mode
            switched off after xpnet switched it on): a float64 net would silently hold float32.
    """
    name = dtype_name(dtype)
    if name not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    dt = getattr(xp, name)
    if name == "float64" and xp.zeros((), dtype=dt).dtype != dt:
        raise BackendError(
            f"{getattr(xp, '__name__', 'the backend')} makes float32 when asked for float64 (JAX: its x64 mode is "
            "off; jax.config.update('jax_enable_x64', True) turns it on), or ask for dtype='float32'"
        )
    return dt


def device_name(xp: Any = None, device: Any = None) -> str:
    """A readable name of ``device`` of ``xp`` (default: the active backend and its device)."""
    if xp is None:
        xp, device = get_namespace(), get_device() if device is None else device
    return backend_of(xp).device_name(xp, device)


def synchronize(xp: Any) -> None:
    """Wait for queued device work of ``xp`` (no-op on the CPU)."""
    backend_of(xp).synchronize(xp)


def check_blas_threads(requested: int | None = None) -> None:
    """``XPNET_BLAS_THREADS`` checked (a ValueError naming it and the fix), so that a command can
    refuse it before anything is made; the threads themselves are chosen when a fit starts."""
    from .numpy import choose_blas_threads

    choose_blas_threads(0.0, "backprop", requested)
