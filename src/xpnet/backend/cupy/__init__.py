"""CuPy (NVIDIA GPU): fused kernels, CUDA-graph capture, direct cuBLAS calls.

Nothing here changes the math: the kernels compute the formulas of the Array-API
functions they stand for (``sources.REPLACES``), and the graphs replay the very step
function ``fit`` hands in. ``sources.py`` (the CUDA C as text), ``fast.py`` (the kernels
composed into xpnet's functions) and ``loader.py`` import no CuPy, so the CPU tests can
check them; ``kernels.py``, ``steppers.py`` (CUDA graphs) and ``cublas.py`` need a GPU.
This module imports CuPy only inside its methods.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from ..base import Backend, BackendError

INSTALL_HINT = "pip install '.[cuda12]' (CUDA 12) or '.[cuda13]' (CUDA 13) from a checkout of xpnet"


def _cuda_version(v: int) -> str:
    return f"{v // 1000}.{(v % 1000) // 10}"


class CuPy(Backend):
    """CuPy arrays on an NVIDIA GPU, through ``array_api_compat.cupy``."""

    name = "cupy"

    def __init__(self) -> None:
        super().__init__()
        self._forms: Any = None

    def load(self) -> Any:
        try:
            import cupy
        except ImportError as exc:
            raise BackendError(f"backend 'cupy' asked for, but CuPy is not installed: {INSTALL_HINT}") from exc
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDA driver missing or broken
            raise BackendError(
                f"backend 'cupy' asked for, but CUDA is not usable here ({exc}); "
                "install an NVIDIA driver, or use XPNET_BACKEND=numpy"
            ) from exc
        if count < 1:
            raise BackendError(
                "backend 'cupy' asked for, but no CUDA device was found; "
                "use XPNET_BACKEND=numpy on a machine without an NVIDIA GPU"
            )
        import array_api_compat.cupy as xp

        return xp

    def device_names(self, device: Any) -> set[str]:
        """``<CUDA Device 1>`` answers to ``cuda:1`` and ``gpu:1`` (``cuda`` and ``gpu`` for 0)."""
        found = re.search(r"CUDA Device (\d+)", str(device))
        return super().device_names(f"cuda:{found.group(1)}" if found else device)

    def device_name(self, xp: Any, device: Any) -> str:
        """The chosen device's name (``device``: a ``cupy.cuda.Device``; None: the current one)."""
        import cupy

        dev = cupy.cuda.Device() if device is None else device
        props = cupy.cuda.runtime.getDeviceProperties(dev.id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        return f"{name} (CUDA device {dev.id})"

    def describe(self) -> list[str]:
        """CuPy, CUDA and the devices; each line on its own, so one failure still leaves the rest."""
        lines = []
        try:
            self.namespace()
        except BackendError:  # no CuPy, or no device: say how to get it
            return [f"cupy: not usable here (no CuPy, or no CUDA device); for NVIDIA GPUs: {INSTALL_HINT}"]
        try:
            import cupy

            rt = cupy.cuda.runtime
            lines.append(
                f"cupy {cupy.__version__}: CUDA runtime {_cuda_version(rt.runtimeGetVersion())}, "
                f"driver {_cuda_version(rt.driverGetVersion())}"
            )
            for i in range(rt.getDeviceCount()):
                props = rt.getDeviceProperties(i)
                name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
                with cupy.cuda.Device(i):
                    free, total = rt.memGetInfo()
                lines.append(
                    f"  device {i}: {name}, compute capability {props['major']}.{props['minor']}, "
                    f"{total / 2**30:.1f} GiB ({free / 2**30:.1f} GiB free)"
                )
            cupy.cuda.device.get_cublas_handle()
            from .loader import cupy_cublas

            lines.append(f"  cuBLAS loaded: {cupy_cublas() or 'not found in the process map'}")
        except Exception as exc:  # report what broke instead of failing the report
            lines.append(f"cupy: error while asking CUDA: {type(exc).__name__}: {exc}")
        return lines

    def synchronize(self, xp: Any) -> None:
        import cupy

        cupy.cuda.get_current_stream().synchronize()

    def to_numpy(self, x: Any) -> Any:
        return x.get()

    def on_device(self, device: Any) -> contextlib.AbstractContextManager[Any]:
        """The chosen device made current: CuPy's creation functions (``zeros``, ``arange``...) ignore
        ``device=`` and allocate on the current device; ``device`` None leaves the current one."""
        import cupy

        return contextlib.nullcontext() if device is None else cupy.cuda.Device(device.id)

    # ------------------------------------------------------------------ policies

    def memory_budget(self) -> int | None:
        """Bytes one chunk of work may take: a quarter of the free device memory, at most 4 GiB."""
        import cupy

        free, _ = cupy.cuda.runtime.memGetInfo()
        return min(free // 4, 4 * 2**30)

    @contextlib.contextmanager
    def run_scope(self, device: Any, *, step_flops: float, grad: str, blas_threads: int | None) -> Iterator[int | None]:
        """Run a whole fit on ``device`` (the arrays' ``cupy.cuda.Device``; None: the current one), on one
        non-blocking stream of that device (graphs need one): the stream, the cuBLAS handle, the memory
        budget and every launch belong to the device the arrays live on."""
        import cupy

        with contextlib.nullcontext() if device is None else cupy.cuda.Device(device.id):
            cupy.cuda.Stream.null.synchronize()  # data placed before fit() is ready
            stream = cupy.cuda.Stream(non_blocking=True)
            with stream:
                try:
                    yield None
                finally:
                    stream.synchronize()  # results visible to later work on any stream

    def stepper(self, step, params, data, steps_per_call):
        """CUDA graphs of ``steps_per_call`` steps (10 for True or "auto"), each recording
        ``step(params, data, idx, xp=capture namespace)``: device arrays stay where they are."""
        from .steppers import GraphStepper

        k = 10 if steps_per_call is True or steps_per_call == "auto" else int(steps_per_call)

        def bound(idx, xp=None):
            return step(params, data, idx, xp=xp)

        return GraphStepper(bound, params, self.namespace(), steps_per_graph=k)

    # ------------------------------------------------------------------ faster forms (fused kernels)

    def _fused(self) -> Any:
        if self._forms is None:
            from . import kernels
            from .fast import FusedForms

            self._forms = FusedForms(kernels)
        return self._forms

    def sigmoid(self, x):
        return self._fused().sigmoid(x)

    def loss_and_gradient(self, params, x, t, xp=None, with_loss=True):
        return self._fused().loss_and_gradient(params, x, t, xp, with_loss)

    def sgd_step(self, params, x, t, idx, lr, xp=None):
        return self._fused().sgd_step(params, x, t, idx, lr, xp)

    def hidden_gradient(self, point, xrows, h, xp=None):
        return self._fused().hidden_gradient(point, xrows, h, xp)

    def w1_gradient(self, point, h, rows, xp=None):
        return self._fused().w1_gradient(point, h, rows, xp)

    def output_gradient(self, point, h, xp=None):
        return self._fused().output_gradient(point, h, xp)


BACKEND = CuPy()
