"""The training step captured as a CUDA graph and replayed.

At the book's size a step is ~25 tiny kernels; launched one by one from
Python the GPU mostly idles (see benchmarks/RESULTS.md). Capturing
``steps_per_graph`` steps into one CUDA graph and replaying it removes the
per-launch cost. The captured code is xpnet's own step (``PlainStepper.step``);
only two things differ from eager CuPy, both invisible to the math:

* ``matmul`` goes straight to cuBLAS (CuPy refuses to call cuBLAS while a
  stream is being captured; cuBLAS itself can be captured once its stream
  and workspace are set);
* temporaries come from a private memory pool, so that no array made
  outside the graph can share memory with the graph's scratch space.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import cupy
import numpy as np

from ..backend import _namespace_override, get_namespace
from ..train import PlainStepper

_lib = None
_workspace = None
_ONE = {np.dtype(np.float64): np.ones(1, np.float64), np.dtype(np.float32): np.ones(1, np.float32)}
_ZERO = {np.dtype(np.float64): np.zeros(1, np.float64), np.dtype(np.float32): np.zeros(1, np.float32)}


def _cublas():
    global _lib
    if _lib is None:
        names = ["libcublas.so.13", "libcublas.so.12", "libcublas.so.11", ctypes.util.find_library("cublas")]
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
            fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                           ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                           ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        _lib.cublasSetStream_v2.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        _lib.cublasSetWorkspace_v2.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    return _lib


def _prepare_handle(stream):
    """Point CuPy's cuBLAS handle at ``stream`` with a fixed workspace."""
    global _workspace
    lib = _cublas()
    handle = cupy.cuda.device.get_cublas_handle()
    if _workspace is None:
        _workspace = cupy.empty(32 * 2**20, dtype=cupy.uint8)
    _check(lib.cublasSetStream_v2(handle, stream.ptr), "cublasSetStream")
    _check(lib.cublasSetWorkspace_v2(handle, _workspace.data.ptr, _workspace.nbytes), "cublasSetWorkspace")
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
    _check(fn(handle, tb, ta, n, m, k, one.ctypes.data, b.data.ptr, ldb, a.data.ptr, lda,
              zero.ctypes.data, out.data.ptr, n), "cublas gemm")
    return out


class CaptureNamespace:
    """The CuPy array namespace with a capturable ``matmul``; all else delegates."""

    def __init__(self, base):
        self.base = base

    def matmul(self, a, b):
        return gemm(a, b)

    def __getattr__(self, name):
        return getattr(self.base, name)


class GraphStepper(PlainStepper):
    """Runs :meth:`PlainStepper.step` as CUDA graphs of up to ``steps_per_graph`` steps.

    Two graphs are captured per batch size, each with its own index and loss
    buffers: one of ``steps_per_graph`` steps for full chunks, and one of a
    single step for what evaluation points leave over. Replays at this size
    are bound by the GPU, not by launching, so a few steps per graph suffice
    and capture (which costs as much host time as the steps it records) stays
    short.
    """

    def __init__(self, net, x, t_hot, lr, steps_per_graph=10):
        super().__init__(net, x, t_hot, lr, "backprop")
        self.k = int(steps_per_graph)
        self.chunk = max(1000, self.k)
        self.ns = CaptureNamespace(get_namespace("cupy"))
        self.pool = cupy.cuda.MemoryPool()
        self.stream = cupy.cuda.get_current_stream()
        if self.stream.ptr == 0:
            raise RuntimeError("GraphStepper needs a non-default stream (fit() provides one)")
        self.graphs = {}  # (steps, batch) -> (graph, idx_buf, loss_buf)

    def _step(self, idx):
        with _namespace_override(self.ns):
            self.xp = self.ns
            try:
                return PlainStepper.step(self, idx)
            finally:
                self.xp = self.ns.base

    def _capture(self, steps, batch):
        dt = self.net.params["W1"].dtype
        with cupy.cuda.using_allocator(self.pool.malloc):
            idx_buf = cupy.zeros((steps, batch), dtype=cupy.int64)
            loss_buf = cupy.zeros((steps,), dtype=dt)
            # warm-up: compile kernels, create handles, fill the private pool; on
            # saved parameters, restored after, so training is not stepped.
            saved = {k: v.copy() for k, v in self.net.params.items()}
            for i in range(2):
                loss_buf[i % steps] = self._step(idx_buf[i % steps])
            for k, v in saved.items():
                self.net.params[k][...] = v
            del saved
            self.stream.synchronize()
            self.stream.begin_capture()
            try:
                for i in range(steps):
                    loss_buf[i] = self._step(idx_buf[i])
            finally:
                graph = self.stream.end_capture()
            graph.upload(self.stream)
        self.graphs[(steps, batch)] = (graph, idx_buf, loss_buf)
        return self.graphs[(steps, batch)]

    def _replay(self, idx_rows, out, start, steps):
        batch = idx_rows.shape[1]
        entry = self.graphs.get((steps, batch)) or self._capture(steps, batch)
        graph, idx_buf, loss_buf = entry
        idx_buf[...] = idx_rows[start:start + steps]
        graph.launch(self.stream)
        out[start:start + steps] = loss_buf

    def run(self, idx_rows):
        n = idx_rows.shape[0]
        out = cupy.empty((n,), dtype=self.net.params["W1"].dtype)
        done = 0
        with cupy.cuda.using_allocator(self.pool.malloc):
            while done < n:
                # full graphs, then single-step graph replays for the rest: every
                # graph is captured once, and capture costs as many steps as it holds
                steps = self.k if n - done >= self.k else 1
                self._replay(idx_rows, out, done, steps)
                done += steps
        return out

    def close(self):
        self.stream.synchronize()
        self.graphs.clear()
