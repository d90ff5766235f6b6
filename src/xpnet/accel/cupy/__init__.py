"""CuPy (NVIDIA GPU): fused kernels, CUDA-graph capture, direct cuBLAS calls.

Nothing here changes the math: the kernels compute the formulas of the
Array-API functions they replace (``sources.REPLACES``), and the graphs
replay the very step function ``fit`` hands in. ``api.py`` is what
``xpnet.accel`` reads; ``sources.py`` (the CUDA C as text) and ``fused.py``
import no CuPy, so the CPU tests can check them.
"""

from __future__ import annotations

from ..registry import BackendError


def load():
    try:
        import cupy
    except ImportError as exc:
        raise BackendError("backend 'cupy' asked for, but CuPy is not installed: "
                           "pip install 'xpnet[cuda12]' (CUDA 12) or 'xpnet[cuda13]' (CUDA 13)") from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken
        raise BackendError(f"backend 'cupy' asked for, but CUDA is not usable here ({exc}); "
                           "install an NVIDIA driver, or use XPNET_BACKEND=numpy") from exc
    if count < 1:
        raise BackendError("backend 'cupy' asked for, but no CUDA device was found; "
                           "use XPNET_BACKEND=numpy on a machine without an NVIDIA GPU")
    import array_api_compat.cupy as xp
    return xp


def device_name(xp, device) -> str:
    """The chosen device's name (``device``: a ``cupy.cuda.Device``; None: the current one)."""
    import cupy
    dev = cupy.cuda.Device() if device is None else device
    props = cupy.cuda.runtime.getDeviceProperties(dev.id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return f"{name} (CUDA device {dev.id})"


def synchronize(xp) -> None:
    import cupy
    cupy.cuda.get_current_stream().synchronize()


def _cuda_version(v):
    return f"{v // 1000}.{(v % 1000) // 10}"


def describe() -> list[str]:
    """CuPy, CUDA and the devices; each line on its own, so one failure still leaves the rest."""
    lines = []
    try:
        load()
    except BackendError:  # no CuPy, or no device: say how to get it
        return ["cupy: not usable here (no CuPy, or no CUDA device); for NVIDIA GPUs: "
                "pip install 'xpnet[cuda13]' (or 'xpnet[cuda12]')"]
    try:
        import cupy
        rt = cupy.cuda.runtime
        lines.append(f"cupy {cupy.__version__}: CUDA runtime {_cuda_version(rt.runtimeGetVersion())}, "
                     f"driver {_cuda_version(rt.driverGetVersion())}")
        for i in range(rt.getDeviceCount()):
            props = rt.getDeviceProperties(i)
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            with cupy.cuda.Device(i):
                free, total = rt.memGetInfo()
            lines.append(f"  device {i}: {name}, compute capability {props['major']}.{props['minor']}, "
                         f"{total / 2**30:.1f} GiB ({free / 2**30:.1f} GiB free)")
        cupy.cuda.device.get_cublas_handle()
        from .loader import cupy_cublas
        lines.append(f"  cuBLAS loaded: {cupy_cublas() or 'not found in the process map'}")
    except Exception as exc:  # report what broke instead of failing the report
        lines.append(f"cupy: error while asking CUDA: {type(exc).__name__}: {exc}")
    return lines


def to_numpy(x):
    """A host copy (or view) of an array of this library."""
    return x.get()


def on_device(device):
    """The chosen device made current: CuPy's creation functions (``zeros``, ``arange``...) ignore
    ``device=`` and allocate on the current device; ``device`` None leaves the current one."""
    import contextlib

    import cupy
    return contextlib.nullcontext() if device is None else cupy.cuda.Device(device.id)
