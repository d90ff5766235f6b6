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
* :func:`run_scope` is the context a whole ``fit`` runs in, asked for once:
  :func:`device_scope` (the device, a CUDA stream of its own on CuPy), BLAS threads
  and the plain path's switch.
* :func:`cpu_threads` and :func:`cpu_thread_scope` size BLAS's thread pool
  to a step (one thread at the book's size on NumPy).
* :func:`stepper` gives the backend's way to run many training steps at once
  (CUDA graphs on CuPy, compiled scans on JAX), or None; :func:`stacked_stepper`
  the same for K stacked nets (members side by side on NumPy's threads, the
  stacked step scanned on JAX).
* :func:`accelerated` switches replacements and steppers off (the plain path).

Where things are: ``registry.py`` lists the backends (one line each) and maps an
array or a namespace to its backend's name; ``contract.py`` lists what a backend
package may provide (:class:`Library` in its ``__init__``, the
:data:`ACCELERATION_HOOKS` in its optional ``api.py``), the :class:`Stepper`
protocol, and :func:`replaceable`, whose replacements are registered against the
function object they replace. A backend's ``api.py`` may import the math (to name
what it replaces); the math imports only ``contract`` and this module, which reads
the ``api.py`` on first use. So the imports go one way:
math -> accel -> accel.<backend>.api -> math's function objects, never back.
"""

from __future__ import annotations

import contextlib

from .contract import (ACCELERATION_HOOKS, ENABLED, Acceleration, Library, Stepper, accelerated, namespace_backend,
                       replaceable, replacement, replacements)
from .registry import BACKENDS, BackendError, api, backend_of, package

__all__ = ["ACCELERATION_HOOKS", "Acceleration", "Library", "Stepper", "BACKENDS", "BackendError", "accelerated",
           "replaceable", "replacement", "replacements", "backend_of", "namespace_backend", "package", "chunk_size",
           "parallel_map", "workers", "run_scope", "on_device", "device_scope", "cpu_threads", "cpu_thread_scope",
           "stepper", "stacked_stepper"]


def _module(xp):
    """The ``api.py`` of the backend of namespace ``xp`` (None when it has none)."""
    return api(namespace_backend(xp))


# ------------------------------------------------------------------ policies

#: Host memory that one chunk of batched work may use (the batched numerical gradient).
HOST_BUDGET = 256 * 2**20


def chunk_size(xp, bytes_per_item: int, cap: int | None = None, host_bytes: int = HOST_BUDGET) -> int:
    """How many items of ``bytes_per_item`` to process at once, at least 1.

    On a GPU backend the budget is its own (CuPy: a quarter of the free
    device memory, at most 4 GiB); on the host it is ``host_bytes``.
    """
    mod = _module(xp)
    budget = getattr(mod, "memory_budget", None)
    budget = host_bytes if budget is None else budget()
    k = max(1, int(budget // max(1, bytes_per_item)))
    return k if cap is None else min(k, cap)


def parallel_map(xp, fn, items) -> list:
    """``[fn(i) for i in items]``, in parallel where the backend gains from it."""
    items = list(items)
    mod = _module(xp)
    mapper = getattr(mod, "parallel_map", None)
    if mapper is None or len(items) < 2:
        return [fn(i) for i in items]
    return mapper(fn, items)


def workers(xp) -> int:
    """How many pieces of work the backend runs side by side (:func:`parallel_map`): one
    per CPU core (at most 8) on NumPy, 1 elsewhere (a GPU or a compiler runs each piece whole)."""
    mod = _module(xp)
    return 1 if getattr(mod, "parallel_map", None) is None else max(1, int(getattr(mod, "WORKERS", 1)))


def on_device(xp, device):
    """The context in which ``xp``'s creation functions make arrays on ``device`` (see
    :meth:`xpnet.accel.contract.Library.on_device`)."""
    return package(namespace_backend(xp)).on_device(device)


def device_scope(xp, device=None):
    """The context a whole training run executes in, on ``device`` (the arrays' device; None:
    the library's current one): on CuPy, that device entered and a stream of its own."""
    mod = _module(xp)
    scope = getattr(mod, "device_scope", None)
    return contextlib.nullcontext() if scope is None else scope(device)


@contextlib.contextmanager
def run_scope(xp, device=None, *, step_flops, grad="backprop", blas_threads=None, fast="auto"):
    """Everything a training run executes in, asked for once: the device (and its stream on CuPy),
    BLAS held to threads sized to one step (:func:`cpu_threads`), replacements and steppers on, or
    off for ``fast=False`` (the plain path). Yields the BLAS threads chosen (None: the library's own)."""
    threads = cpu_threads(xp, step_flops, grad, blas_threads)
    with device_scope(xp, device), cpu_thread_scope(xp, threads), accelerated(fast is not False):
        yield threads


def cpu_threads(xp, step_flops, grad, requested=None):
    """BLAS threads for a fit's steps on this backend (None: the library's own choice)."""
    mod = _module(xp)
    choose = getattr(mod, "blas_threads", None)
    return None if choose is None else choose(step_flops, grad, requested)


def cpu_thread_scope(xp, threads):
    """The context that holds BLAS to ``threads`` threads (nothing for None, or off the CPU)."""
    mod = _module(xp)
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
    if not ENABLED.get():
        return None
    mod = _module(xp)
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
    if not ENABLED.get():
        return None
    mod = _module(xp)
    make = getattr(mod, "make_stacked_stepper", None)
    if make is None:
        return None
    return make(step, params, data, xp, steps_per_call, member_step=member_step, member=member, active=active,
                workers=workers)
