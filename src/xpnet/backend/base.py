"""The contract between xpnet and one array library: the :class:`Backend` base class.

A backend is a package ``xpnet/backend/<name>/`` whose ``__init__`` defines a subclass of
:class:`Backend` and one instance of it, ``BACKEND``; ``registry.py`` lists it in one line.
The base class below says what each method means and does the plain thing, so a backend
overrides only what its library needs or does better. Backends sit below the math: they
never import it. The math asks them (``registry.backend_of(x)``, ``registry.faster(x)``),
and hands a stepper the step function it is to run.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

import numpy as np

#: Host memory that one chunk of batched work may use (the batched numerical gradient).
HOST_BUDGET = 256 * 2**20


class BackendError(RuntimeError):
    """A backend was asked for that cannot be used on this machine (the message says how to get it)."""


@runtime_checkable
class Stepper(Protocol):
    """Runs many training steps at once.

    ``run(idx_rows)``: one step per row of mini-batch indices (``(n, batch)`` for one net,
    ``(n, K, batch)`` for K stacked nets); returns the losses ``(n,)`` or ``(n, K)``, before
    each update (on the device, read once by the run loop). ``chunk``: how many steps the run
    loop hands ``run`` at a time (it may change after each run). ``close()``: free what it holds
    (graphs, buffers). ``host_rows``: whether ``run`` takes the indices as NumPy rows on the host
    (JAX: sent with each compiled call) rather than on the device; the losses may come back on the host.
    """

    chunk: int
    host_rows: bool = False

    def run(self, idx_rows: Any) -> Any: ...

    def close(self) -> None: ...


class Backend:
    """One array library, as xpnet uses it. Subclasses override what their library needs.

    **The library** (every backend defines :meth:`load`; the rest have plain defaults):

    * ``name``: what ``XPNET_BACKEND``, ``set_backend`` and ``--backend`` call it.
    * :meth:`load`: the library's Array-API namespace, or :class:`BackendError` saying how
      to install what is missing; :meth:`namespace` loads it once.
    * :meth:`devices`, :meth:`device_names`, :meth:`device`: the devices, the names each
      answers to, and the one a ``name:device`` spec names.
    * :meth:`device_name`, :meth:`describe`: readable names for the header and ``xpnet info``.
    * :meth:`synchronize`: wait for work queued on the device.
    * :meth:`to_numpy`: a host copy of an array.
    * :meth:`on_device`: the context in which creation functions make arrays on a device.

    **Policies** (how the library runs xpnet's work; defaults: on the host, in order):

    * :meth:`memory_budget` and :meth:`chunk_size`: how much batched work at once.
    * ``workers`` and :meth:`parallel_map`: pieces of work side by side.
    * :meth:`run_scope`: the context a whole training run executes in (device, stream,
      BLAS threads), yielding the BLAS threads chosen.
    * :meth:`stepper` and :meth:`stacked_stepper`: a way to run many training steps at once
      (CUDA graphs, compiled scans, members on threads), or None: the run loop then calls
      the step function once per step.

    **Faster forms** (optional): the same formula as an Array-API function of the math, with
    that function's arguments, computed the library's own way (in place, fused kernels). Each
    returns ``NotImplemented`` where it is not for the inputs (dtype, layout, too many
    classes...), and the math then runs its Array-API code; the base class returns it always.
    The math checks its input before it asks, so a faster form sees only checked input, and
    :func:`xpnet.backend.accelerated` (the plain path) switches them, and the steppers, off.
    """

    name: str = ""
    #: Pieces of work :meth:`parallel_map` runs side by side.
    workers: int = 1

    def __init__(self) -> None:
        self._namespace: Any = None
        self._devices: dict[str, Any] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the library

    def load(self) -> Any:
        """The library's Array-API namespace; :class:`BackendError` (with the fix) where it cannot be used."""
        raise BackendError(f"backend {self.name!r} does not say how to load its library")

    def namespace(self) -> Any:
        """:meth:`load`, once (later calls return the same namespace)."""
        with self._lock:
            if self._namespace is None:
                self._namespace = self.load()
            return self._namespace

    def devices(self) -> list[Any]:
        """The library's devices, as ``__array_namespace_info__().devices()`` lists them."""
        info = getattr(self.namespace(), "__array_namespace_info__", None)
        return [d for d in info().devices() if d is not None] if info is not None else []

    def device_names(self, device: Any) -> set[str]:
        """The names (lower case) a device answers to: ``cpu``, ``cuda:1`` (``cuda`` for 0, ``gpu:1`` too)..."""
        text = str(device).lower()
        names = {text}
        platform, _, index = text.partition(":")
        if index == "0":
            names.add(platform)
        if index and platform in ("cuda", "gpu"):
            names |= {f"cuda:{index}", f"gpu:{index}"}
        return names

    def device(self, spec: str | None) -> Any:
        """The device ``spec`` names (a name of :meth:`device_names`, or an index into
        :meth:`devices`); None for None. ValueError listing the devices otherwise."""
        if spec is None:
            return None
        if spec not in self._devices:
            devices, wanted = self.devices(), spec.strip().lower()
            found = [d for i, d in enumerate(devices) if wanted == str(i) or wanted in self.device_names(d)]
            if not found:
                names = ", ".join(sorted(self.device_names(d), key=len)[-1] for d in devices) or "none"
                raise ValueError(
                    f"unknown device {spec!r} for backend {self.name}: its devices are {names} "
                    f"(or their index, 0 to {len(devices) - 1})"
                )
            self._devices[spec] = found[0]
        return self._devices[spec]

    def device_name(self, xp: Any, device: Any) -> str:
        """A readable name of ``device`` (None: the library's default device)."""
        return str(device) if device is not None else f"{self.name} (default device)"

    def describe(self) -> list[str]:
        """Lines for ``xpnet info``: the library's version, devices, what it was built with."""
        return []

    def synchronize(self, xp: Any) -> None:
        """Wait for work queued on the device (nothing on the CPU)."""

    def to_numpy(self, x: Any) -> np.ndarray:
        """A host copy (or view) of an array of this library."""
        return np.asarray(x)

    def on_device(self, device: Any) -> contextlib.AbstractContextManager[Any]:
        """The context in which the library's creation functions make arrays on ``device``
        (nothing where ``device=`` already says it; CuPy: that device made current)."""
        return contextlib.nullcontext()

    # ------------------------------------------------------------------ policies

    def memory_budget(self) -> int | None:
        """Bytes one chunk of batched work may take on the device; None: on the host."""
        return None

    def chunk_size(self, bytes_per_item: int, cap: int | None = None, host_bytes: int = HOST_BUDGET) -> int:
        """How many items of ``bytes_per_item`` to process at once, at least 1 (and at most ``cap``):
        :meth:`memory_budget` on a device, ``host_bytes`` on the host."""
        budget = self.memory_budget()
        k = max(1, int((host_bytes if budget is None else budget) // max(1, bytes_per_item)))
        return k if cap is None else min(k, cap)

    def parallel_map(self, fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
        """``[fn(i) for i in items]``, side by side where the library gains from it."""
        return [fn(i) for i in items]

    @contextlib.contextmanager
    def run_scope(self, device: Any, *, step_flops: float, grad: str, blas_threads: int | None) -> Iterator[int | None]:
        """The context a whole training run executes in, on ``device`` (the arrays' device): a
        stream of its own on a GPU, BLAS threads sized to a step of ``step_flops`` on the CPU
        (``blas_threads`` asks for a number). Yields the BLAS threads chosen (None: the library's)."""
        yield None

    def stepper(
        self, step: Callable[..., Any], params: dict[str, Any], data: tuple[Any, ...], steps_per_call: Any
    ) -> Stepper | None:
        """A way to run many steps of one net at once, or None (the run loop calls ``step``).

        ``step(params, data, idx, xp=None) -> loss`` is the Array-API step; it updates
        ``params[key]`` in place or by rebinding the entry, and may be run through a namespace
        of the backend's own (passed as ``xp``). ``data`` holds the arrays it reads, passed as
        they are (a compiled step takes them as arguments). ``steps_per_call``: steps per CUDA
        graph or scan, or True/"auto"."""
        return None

    def stacked_stepper(
        self,
        step: Callable[..., Any],
        params: dict[str, Any],
        data: tuple[Any, ...],
        steps_per_call: Any,
        *,
        member_step: Callable[..., Any],
        member: Callable[[int], tuple[dict[str, Any], tuple[Any, ...]]],
        active: np.ndarray,
        workers: int | None = None,
    ) -> Stepper | None:
        """A way to run many steps of K stacked nets at once, or None (the run loop calls ``step``).

        The math offers two forms of one step, and the backend runs the one that suits it:
        ``step(params, data, idx, xp=None) -> losses`` (K,) over parameters stacked along a
        leading axis and indices (K, batch), members not ``active`` left as they are (``data``
        carries that mask); or ``member_step``, ``fit``'s step, over ``member(m) -> (params_m,
        data_m)``, member m's parameters as views into the stacked arrays. ``active``: host bool
        (K,); ``workers``: members side by side (None: the backend's choice). The stepper's
        ``run(idx_rows)`` takes (n, K, batch) and returns (n, K) losses (anything for members
        not active)."""
        return None

    # ------------------------------------------------------------------ faster forms

    def sigmoid(self, x: Any) -> Any:
        """``functions.sigmoid_of(x)`` (x checked: a float array)."""
        return NotImplemented

    def softmax(self, x: Any) -> Any:
        """``functions.softmax_of(x)`` (x checked: a float array of at least one dimension)."""
        return NotImplemented

    def loss_and_gradient(self, params: dict[str, Any], x: Any, t: Any, xp: Any = None, with_loss: bool = True) -> Any:
        """``nets.loss_and_gradient``: the book's backprop pass, ``(loss, grads)``."""
        return NotImplemented

    def sgd_step(self, params: dict[str, Any], x: Any, t: Any, idx: Any, lr: Any, xp: Any = None) -> Any:
        """``steps.sgd_step``: one SGD step in place, its loss. Declining must leave ``params`` alone."""
        return NotImplemented

    def finite(self, arrays: list[Any], stacked: bool) -> Any:
        """``runloop.finite``: whether all entries are finite, a bool array (K,) (one per leading entry
        when ``stacked``) or a 0-d one."""
        return NotImplemented

    def batch_rows(self, x: Any, idx: Any) -> Any:
        """``steps.batch_rows``: ``xp.take(x, idx, axis=0)``, the indices in range (drawn by the run)."""
        return NotImplemented

    def hidden_gradient(self, point: Any, xrows: Any, h: float, xp: Any = None) -> Any:
        """``incremental_numgrad.hidden_gradient``: gradient rows of the parameters feeding the hidden layer."""
        return NotImplemented

    def w1_gradient(self, point: Any, h: float, rows: int, xp: Any = None) -> Any:
        """``incremental_numgrad.w1_gradient``: d loss / d W1, ``rows`` inputs at a time."""
        return NotImplemented

    def output_gradient(self, point: Any, h: float, xp: Any = None) -> Any:
        """``incremental_numgrad.output_gradient``: d loss / d W2 and d loss / d b2."""
        return NotImplemented

    def __repr__(self) -> str:
        return f"<xpnet backend {self.name or '(plain)'}>"
