"""The acceleration boundary: everything that is specific to one array library.

The math (``functions``, ``gradient``, ``nets``, ``numgrad``, ``train``) is
written once with Array-API calls. It names no backend. Where speed or memory
depends on the library, it asks this module, which answers from the
sub-package of that backend (``accel/cupy/``, ``accel/numpy/``; Keras 3
keeps one such package per backend):

* :func:`replaceable` marks an Array-API function that a backend may replace
  by a fused kernel computing *the same formula*. The replacement takes the
  same arguments and returns ``NotImplemented`` when it is not for these
  inputs (the one convention); the Array-API function then runs.
* :func:`chunk_size` says how many items of a given size to process at once
  (device memory on a GPU, cache-sized pieces on the host).
* :func:`parallel_map` maps a function over work items (threads on NumPy,
  whose loops release the GIL; in order elsewhere); :func:`workers` says how
  many it runs side by side.
* :func:`device_scope` is the context a whole ``fit`` runs in (a CUDA stream
  of its own on CuPy).
* :func:`cpu_threads` and :func:`cpu_thread_scope` size BLAS's thread pool
  to a step (one thread at the book's size on NumPy).
* :func:`stepper` gives the backend's way to run many training steps at once
  (CUDA graphs on CuPy, compiled scans on JAX), or None; :func:`stacked_stepper`
  the same for K stacked nets (members side by side on NumPy's threads, the
  stacked step scanned on JAX).
* :func:`accelerated` switches replacements and steppers off (the plain path).

Each backend sub-package has an ``api.py`` that imports nothing from here: it
exposes ``REPLACEMENTS`` (a dict from the Array-API function's name to its
replacement) and the policy functions it has, and this module reads them.
So the imports go one way: math -> accel -> accel.<backend>.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import types

import numpy as np

from ..backend import backend_of

_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar("xpnet_accel", default=True)
_modules: dict[str, object] = {}  # backend name -> its accel module (None: nothing to add)


def _module(backend: str):
    """The accel sub-package of ``backend``, imported on first use (or None)."""
    if backend not in _modules:
        if backend == "cupy":
            from .cupy import api as mod
        elif backend == "numpy":
            from .numpy import api as mod
        elif backend == "jax":
            from .jax import api as mod
        else:
            mod = None
        _modules[backend] = mod
    return _modules[backend]


_tables: dict[str, dict] = {}


def _replacements(backend: str) -> dict:
    """The replacements a backend registers (empty when it has none)."""
    table = _tables.get(backend)
    if table is None:
        mod = _module(backend)
        table = _tables[backend] = {} if mod is None else dict(mod.REPLACEMENTS)
    return table


def _backend_of_array(a) -> str | None:
    """Backend name of one array, from its type (cheap: no namespace lookup)."""
    top = type(a).__module__.partition(".")[0]
    return {"numpy": "numpy", "cupy": "cupy", "torch": "torch", "jax": "jax", "jaxlib": "jax",
            "array_api_strict": "array_api_strict"}.get(top)


def _backend_of_args(args) -> str | None:
    for a in args:
        if isinstance(a, dict):
            a = next(iter(a.values()), None)
        name = _backend_of_array(a) if a is not None else None
        if name is not None:
            return name
    return None


_namespace_backends: dict[int, str] = {}


def backend_of_namespace(xp) -> str:
    """Backend name of a namespace, including wrappers that name their ``backend``."""
    name = _namespace_backends.get(id(xp))
    if name is None:
        name = getattr(xp, "backend", None) or backend_of(xp)
        if isinstance(xp, types.ModuleType):  # modules live as long as the process: safe to remember
            _namespace_backends[id(xp)] = name
    return name


def replaceable(fn):
    """Mark ``fn`` (an Array-API function) as one a backend may replace.

    The backend's replacement is found by ``fn``'s name (``"module.function"``)
    and by the backend of the ``xp`` keyword, else of the first array among
    the arguments (a dict counts by its first value). It is called
    with the same arguments; if it returns ``NotImplemented`` (not for these
    inputs) or none is registered, or :func:`accelerated` is off, ``fn`` runs.
    ``fn`` itself stays reachable as ``.array_api`` (the parity tests compare
    the two).
    """
    key = f"{fn.__module__.rpartition('.')[2]}.{fn.__name__}"

    @functools.wraps(fn)
    def call(*args, **kwargs):
        if _enabled.get():
            xp = kwargs.get("xp")
            if xp is not None:
                backend = backend_of_namespace(xp)
            elif args and type(args[0]) is np.ndarray:  # the common case, cheaply
                backend = "numpy"
            else:
                backend = _backend_of_args(args)
            impl = None if backend is None else _replacements(backend).get(key)
            if impl is not None:
                out = impl(*args, **kwargs)
                if out is not NotImplemented:
                    return out
        return fn(*args, **kwargs)

    call.array_api = fn
    call.replace_key = key
    return call


def replacement(fn, backend: str):
    """The registered replacement of a :func:`replaceable` function on ``backend``, or None."""
    return _replacements(backend).get(fn.replace_key)


@contextlib.contextmanager
def accelerated(enabled: bool = True):
    """Switch fused kernels and steppers on or off inside the block (plain path: off)."""
    token = _enabled.set(bool(enabled))
    try:
        yield
    finally:
        _enabled.reset(token)


# ------------------------------------------------------------------ policies

#: Host memory that one chunk of batched work may use (the batched numerical gradient).
HOST_BUDGET = 256 * 2**20


def chunk_size(xp, bytes_per_item: int, cap: int | None = None, host_bytes: int = HOST_BUDGET) -> int:
    """How many items of ``bytes_per_item`` to process at once, at least 1.

    On a GPU backend the budget is its own (CuPy: a quarter of the free
    device memory, at most 4 GiB); on the host it is ``host_bytes``.
    """
    mod = _module(backend_of_namespace(xp))
    budget = getattr(mod, "memory_budget", None)
    budget = host_bytes if budget is None else budget()
    k = max(1, int(budget // max(1, bytes_per_item)))
    return k if cap is None else min(k, cap)


def parallel_map(xp, fn, items) -> list:
    """``[fn(i) for i in items]``, in parallel where the backend gains from it."""
    items = list(items)
    mod = _module(backend_of_namespace(xp))
    mapper = getattr(mod, "parallel_map", None)
    if mapper is None or len(items) < 2:
        return [fn(i) for i in items]
    return mapper(fn, items)


def workers(xp) -> int:
    """How many pieces of work the backend runs side by side (:func:`parallel_map`): one
    per CPU core (at most 8) on NumPy, 1 elsewhere (a GPU or a compiler runs each piece whole)."""
    mod = _module(backend_of_namespace(xp))
    return 1 if getattr(mod, "parallel_map", None) is None else max(1, int(getattr(mod, "WORKERS", 1)))


def device_scope(xp):
    """The context a whole training run executes in (a stream of its own on CuPy)."""
    mod = _module(backend_of_namespace(xp))
    scope = getattr(mod, "device_scope", None)
    return contextlib.nullcontext() if scope is None else scope()


def cpu_threads(xp, step_flops, grad, requested=None):
    """BLAS threads for a fit's steps on this backend (None: the library's own choice)."""
    mod = _module(backend_of_namespace(xp))
    choose = getattr(mod, "blas_threads", None)
    return None if choose is None else choose(step_flops, grad, requested)


def cpu_thread_scope(xp, threads):
    """The context that holds BLAS to ``threads`` threads (nothing for None, or off the CPU)."""
    mod = _module(backend_of_namespace(xp))
    scope = getattr(mod, "thread_scope", None)
    return contextlib.nullcontext() if scope is None or threads is None else scope(threads)


def stepper(xp, step, params, data, steps_per_call):
    """A backend's way to run many training steps at once, or None.

    Args:
        xp: namespace of the parameters and data.
        step: the Array-API step ``step(params, data, idx, xp=None) -> loss``;
            it updates ``params[key]`` (in place, or by rebinding the entry). A
            backend may run it through a namespace of its own (passed as ``xp``).
        params: dict of the parameters the step updates.
        data: the arrays the step reads (training inputs and targets), passed
            to ``step`` as they are (a compiled step takes them as arguments).
        steps_per_call: steps to record per call (CUDA graphs, scans) or True/"auto".

    Returns:
        An object with ``run(idx_rows) -> losses``, ``chunk`` and ``close()``,
        or None when the backend has none or acceleration is off.
    """
    if not _enabled.get():
        return None
    mod = _module(backend_of_namespace(xp))
    make = getattr(mod, "make_stepper", None)
    return None if make is None else make(step, params, data, xp, steps_per_call)


def stacked_stepper(xp, step, params, data, steps_per_call, *, member_step, member, active, workers=None):
    """A backend's way to run many training steps of K stacked nets at once, or None.

    The math offers two forms of one step, and the backend runs the one that
    suits it:

    Args:
        xp: namespace of the parameters and data.
        step: the stacked Array-API step ``step(params, data, idx, xp=None) -> losses``:
            ``params`` hold every member along a leading axis, ``idx`` is (K, batch),
            the losses (K,); members that are not ``active`` keep their parameters
            (``data`` carries that mask).
        params: dict of the stacked parameters (K, ...).
        data: the arrays ``step`` reads.
        steps_per_call: steps per compiled scan (or True/"auto").
        member_step: one member's step, ``fit``'s (``member_step(params_m, data_m, idx_m, xp=None) -> loss``).
        member: ``member(m) -> (params_m, data_m)``: member m's parameters as views into the
            stacked arrays (``member_step`` updates them in place) and its data.
        active: host bool array (K,): the members to step.
        workers: threads that step members side by side (None: the backend's choice).

    Returns:
        An object with ``run(idx_rows) -> losses`` (``idx_rows`` (n, K, batch), the losses
        (n, K); NaN, or anything, for members not active), ``chunk`` and ``close()``; or
        None when the backend has none or acceleration is off.
    """
    if not _enabled.get():
        return None
    mod = _module(backend_of_namespace(xp))
    make = getattr(mod, "make_stacked_stepper", None)
    if make is None:
        return None
    return make(step, params, data, xp, steps_per_call, member_step=member_step, member=member, active=active,
                workers=workers)
