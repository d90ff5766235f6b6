"""cuBLAS called directly, so that GEMMs can be captured in a CUDA graph.

CuPy refuses to call cuBLAS while a stream is being captured; cuBLAS itself
can be captured once its stream and workspace are set. ``gemm`` calls the
cuBLAS library that CuPy itself loaded (found among the libraries this
process has mapped), through ctypes.
"""

from __future__ import annotations

import ctypes
from typing import Any

import cupy
import numpy as np

from .loader import cupy_cublas

_lib = None
_workspaces: dict[int, Any] = {}  # device id -> that device's cuBLAS workspace
WORKSPACE_BYTES = 32 * 2**20
_ONE: dict[Any, Any] = {np.dtype(np.float64): np.ones(1, np.float64), np.dtype(np.float32): np.ones(1, np.float32)}
_ZERO: dict[Any, Any] = {np.dtype(np.float64): np.zeros(1, np.float64), np.dtype(np.float32): np.zeros(1, np.float32)}


def _cublas():
    global _lib
    if _lib is None:
        cupy.cuda.device.get_cublas_handle()  # makes CuPy load its cuBLAS, if it has not yet
        major = cupy.cuda.runtime.runtimeGetVersion() // 1000
        names = [cupy_cublas(), f"libcublas.so.{major}"]
        for name in names:
            if not name:
                continue
            try:
                _lib = ctypes.CDLL(name)
                break
            except OSError:
                continue
        if _lib is None:
            raise RuntimeError("xpnet's CUDA-graph path could not load libcublas; use fast=False")
        for fn in (_lib.cublasDgemm_v2, _lib.cublasSgemm_v2):
            fn.restype = ctypes.c_int
            fn.argtypes = [
                ctypes.c_void_p,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_int,
                ctypes.c_void_p,
                ctypes.c_void_p,
                ctypes.c_int,
                ctypes.c_void_p,
                ctypes.c_int,
                ctypes.c_void_p,
                ctypes.c_void_p,
                ctypes.c_int,
            ]
        _lib.cublasSetStream_v2.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        _lib.cublasSetWorkspace_v2.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    return _lib


def _workspace():
    """The current device's fixed cuBLAS workspace, made on that device at its first use. One per
    device: CuPy's handles are per device, and a handle given another device's memory faults."""
    device = cupy.cuda.runtime.getDevice()
    if device not in _workspaces:
        _workspaces[device] = cupy.empty(WORKSPACE_BYTES, dtype=cupy.uint8)
    return _workspaces[device]


def _prepare_handle(stream):
    """Point the current device's cuBLAS handle (CuPy's) at ``stream`` with that device's workspace."""
    lib = _cublas()
    handle = cupy.cuda.device.get_cublas_handle()
    workspace = _workspace()
    _check(lib.cublasSetStream_v2(handle, stream.ptr), "cublasSetStream")
    _check(lib.cublasSetWorkspace_v2(handle, workspace.data.ptr, workspace.nbytes), "cublasSetWorkspace")
    return handle


def _check(status, what):
    if status != 0:
        raise RuntimeError(f"{what} failed with cuBLAS status {status}")


def _layout(a):
    """(transpose flag, leading dim, array) for a 2-D operand as cuBLAS sees it."""
    if a.flags.c_contiguous:
        return 0, a.shape[1], a  # column-major view is a^T
    if a.flags.f_contiguous:
        return 1, a.shape[0], a  # column-major view is a
    a = cupy.ascontiguousarray(a)
    return 0, a.shape[1], a


def gemm(a, b):
    """``a @ b`` for 2-D float32/float64 CuPy arrays, through cuBLAS directly."""
    if a.ndim != 2 or b.ndim != 2 or a.dtype != b.dtype or a.dtype not in _ONE:
        return cupy.matmul(a, b)
    m, k = a.shape
    k2, n = b.shape
    if k != k2:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not fit")
    out = cupy.empty((m, n), dtype=a.dtype)
    if m == 0 or n == 0:
        return out
    if k == 0:
        out.fill(0)
        return out
    lib = _cublas()
    handle = _prepare_handle(cupy.cuda.get_current_stream())
    # row-major out = a @ b  <=>  column-major out^T = b^T a^T
    tb, ldb, b = _layout(b)
    ta, lda, a = _layout(a)
    fn = lib.cublasDgemm_v2 if a.dtype == np.float64 else lib.cublasSgemm_v2
    one, zero = _ONE[a.dtype], _ZERO[a.dtype]
    _check(
        fn(
            handle,
            tb,
            ta,
            n,
            m,
            k,
            one.ctypes.data,
            b.data.ptr,
            ldb,
            a.data.ptr,
            lda,
            zero.ctypes.data,
            out.data.ptr,
            n,
        ),
        "cublas gemm",
    )
    return out


class CaptureNamespace:
    """The CuPy array namespace with a capturable ``matmul``; all else delegates.

    Passed explicitly as ``xp`` to the step a CUDA graph records.
    """

    xpnet_backend = "cupy"  # registry.backend_of reads it

    def __init__(self, base):
        self.base = base

    def matmul(self, a, b):
        return gemm(a, b)

    def __getattr__(self, name):
        return getattr(self.base, name)
