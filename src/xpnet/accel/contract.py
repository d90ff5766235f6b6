"""The contract between the math and a backend package: what a package may provide, and what it means.

A backend package ``accel/<name>/`` answers :class:`Library` (what ``backend.py`` and
``xpnet info`` need of its array library); its optional ``api.py`` answers
:class:`Acceleration` (how the library runs xpnet faster: every hook is optional, and
the math runs its Array-API code where one is missing). Steppers answer :class:`Stepper`.
Replacements are registered against the function object they replace, which is marked
:func:`replaceable`. This module imports no other module of xpnet except the registry,
so the math, the backend packages and ``accel`` may all import it.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import types
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from .registry import api, backend_of


class Library(Protocol):
    """The hooks of ``accel/<name>/__init__.py`` (every backend has them all)."""

    def load(self) -> Any:
        """The array namespace; raises :class:`xpnet.BackendError` (with the fix) where it cannot be used."""

    def device_name(self, xp: Any, device: Any) -> str:
        """A readable name of ``device`` (None: the library's default device)."""

    def synchronize(self, xp: Any) -> None:
        """Wait for work queued on the device (nothing on the CPU)."""

    def describe(self) -> list[str]:
        """Lines for ``xpnet info``: the library's version, devices, what it was built with."""

    def to_numpy(self, x: Any) -> Any:
        """A host copy (or view) of an array of this library."""

    def on_device(self, device: Any) -> contextlib.AbstractContextManager:
        """The context in which the library's creation functions make arrays on ``device``
        (nothing where ``device=`` already says it; CuPy: that device made current)."""


#: The hooks an ``accel/<name>/api.py`` may provide, and what ``accel`` does with each.
ACCELERATION_HOOKS = {
    "REPLACEMENTS": "dict {replaceable function: replacement with the same arguments}; the replacement "
                    "returns NotImplemented where it is not for the inputs (accel.replaceable)",
    "memory_budget": "() -> bytes one chunk of batched work may use (accel.chunk_size); host budget if absent",
    "parallel_map": "(fn, items) -> [fn(i) ...] side by side (accel.parallel_map); in order if absent",
    "WORKERS": "how many pieces parallel_map runs side by side (accel.workers); 1 if absent",
    "device_scope": "(device) -> the context a whole run executes in (accel.device_scope)",
    "blas_threads": "(step_flops, grad, requested) -> BLAS threads for a run's steps (accel.cpu_threads)",
    "thread_scope": "(threads) -> the context that holds BLAS to that many threads (accel.cpu_thread_scope)",
    "make_stepper": "(step, params, data, xp, steps_per_call) -> Stepper for one net (accel.stepper)",
    "make_stacked_stepper": "(step, params, data, xp, steps_per_call, *, member_step, member, active, "
                            "workers) -> Stepper for K stacked nets (accel.stacked_stepper)",
}


class Acceleration(Protocol):
    """The shape of an ``api.py`` that provides every hook of :data:`ACCELERATION_HOOKS`."""

    REPLACEMENTS: dict
    WORKERS: int

    def memory_budget(self) -> int: ...
    def parallel_map(self, fn: Callable, items: list) -> list: ...
    def device_scope(self, device: Any) -> contextlib.AbstractContextManager: ...
    def blas_threads(self, step_flops: float, grad: str, requested: int | None) -> int | None: ...
    def thread_scope(self, threads: int) -> contextlib.AbstractContextManager: ...
    def make_stepper(self, step, params, data, xp, steps_per_call) -> "Stepper": ...
    def make_stacked_stepper(self, step, params, data, xp, steps_per_call, *, member_step, member, active,
                             workers=None) -> "Stepper": ...


@runtime_checkable
class Stepper(Protocol):
    """Runs many training steps at once.

    ``run(idx_rows)``: one step per row of mini-batch indices (``(n, batch)`` for one net,
    ``(n, K, batch)`` for K stacked nets); returns the losses ``(n,)`` or ``(n, K)``, before
    each update (on the device, read once by the run loop). ``chunk``: how many steps the run
    loop hands ``run`` at a time. ``close()``: free what it holds (graphs, buffers).
    """

    chunk: int

    def run(self, idx_rows: Any) -> Any: ...

    def close(self) -> None: ...


# ------------------------------------------------------------------ replacements

#: Whether replacements and steppers are on here (:func:`accelerated`).
ENABLED: contextvars.ContextVar[bool] = contextvars.ContextVar("xpnet_accel", default=True)


_tables: dict = {}  # backend name -> its REPLACEMENTS (read once)
_names: dict = {}  # id of a namespace module, or an array type -> backend name (asked once)


def replacements(backend: str | None) -> dict:
    """The replacements a backend registers, keyed by the function they replace (empty if none)."""
    table = _tables.get(backend)
    if table is None:
        mod = api(backend)
        table = {} if mod is None else getattr(mod, "REPLACEMENTS", {})
        if mod is not None:
            _tables[backend] = table
    return table


def _name_of(obj, key) -> str | None:
    name = _names.get(key)
    if name is None:
        name = backend_of(obj)
        if name is not None:
            _names[key] = name
    return name


def namespace_backend(xp) -> str | None:
    """The backend name of a namespace; a module (it lives as long as the process) is asked once."""
    return _name_of(xp, id(xp)) if isinstance(xp, types.ModuleType) else backend_of(xp)


def _backend_of_args(args) -> str | None:
    for a in args:
        if isinstance(a, dict):
            a = next(iter(a.values()), None)
        name = _name_of(a, type(a)) if a is not None else None
        if name is not None:
            return name
    return None


def replaceable(fn):
    """Mark ``fn`` (an Array-API function) as one a backend may replace.

    The replacement is found by the marked function itself (the object ``REPLACEMENTS``
    holds as key) and by the backend of the ``xp`` keyword, else of the first array among
    the arguments (a dict counts by its first value). It is called with the same
    arguments; if it returns ``NotImplemented`` (not for these inputs), or none is
    registered, or :func:`accelerated` is off, ``fn`` runs. Functions that check their
    input do it before they call a replaceable function (a replacement sees only
    checked input). ``fn`` itself stays reachable as ``.array_api``.
    """

    @functools.wraps(fn)
    def call(*args, **kwargs):
        if ENABLED.get():
            xp = kwargs.get("xp")
            if xp is not None:
                backend = namespace_backend(xp)
            elif args and type(args[0]) is np.ndarray:  # the common case, cheaply
                backend = "numpy"
            else:
                backend = _backend_of_args(args)
            impl = replacements(backend).get(call)
            if impl is not None:
                out = impl(*args, **kwargs)
                if out is not NotImplemented:
                    return out
        return fn(*args, **kwargs)

    call.array_api = fn
    return call


def replacement(fn, backend: str):
    """The registered replacement of a :func:`replaceable` function on ``backend``, or None."""
    return replacements(backend).get(fn)


@contextlib.contextmanager
def accelerated(enabled: bool = True):
    """Switch fused kernels and steppers on or off inside the block (plain path: off)."""
    token = ENABLED.set(bool(enabled))
    try:
        yield
    finally:
        ENABLED.reset(token)
