"""What the CuPy backend offers ``xpnet.accel``: fused kernels, memory, stream, graphs."""

from __future__ import annotations

import contextlib

import cupy

from . import fused, kernels
from .graph import GraphStepper

#: Array-API function name -> fused replacement (see ``fused.py``).
REPLACEMENTS = fused.replacements(kernels)


def memory_budget() -> int:
    """Bytes one chunk of work may take: a quarter of the free device memory, at most 4 GiB."""
    free, _ = cupy.cuda.runtime.memGetInfo()
    return min(free // 4, 4 * 2**30)


@contextlib.contextmanager
def device_scope(device=None):
    """Run a whole fit on ``device`` (the arrays' ``cupy.cuda.Device``; None: the current one), on one
    non-blocking stream of that device (graphs need one): the stream, the cuBLAS handle, the memory
    budget and every launch belong to the device the arrays live on."""
    with (contextlib.nullcontext() if device is None else cupy.cuda.Device(device.id)):
        cupy.cuda.Stream.null.synchronize()  # data placed before fit() is ready
        stream = cupy.cuda.Stream(non_blocking=True)
        with stream:
            try:
                yield stream
            finally:
                stream.synchronize()  # results visible to later work on any stream


def make_stepper(step, params, data, xp, steps_per_call):
    """CUDA graphs of ``steps_per_call`` steps (10 for True or "auto"), each recording
    ``step(params, data, idx, xp=capture namespace)``: device arrays stay where they are."""
    k = 10 if steps_per_call is True or steps_per_call == "auto" else int(steps_per_call)

    def bound(idx, xp=None):
        return step(params, data, idx, xp=xp)
    return GraphStepper(bound, params, xp, steps_per_graph=k)
