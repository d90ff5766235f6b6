"""How CuPy runs many training steps at once: the step captured as a CUDA graph and replayed.

At the book's size a step is ~25 tiny kernels; launched one by one from
Python the GPU mostly idles (see benchmarks/RESULTS.md). Capturing
``steps_per_graph`` steps into one CUDA graph and replaying it removes the
per-launch cost. What is captured is the step ``fit`` hands in
(``steps.step_of_data``, which calls ``steps.sgd_step``, whose faster form on
CuPy is the fused step of ``fast.py``); it is called with a namespace of its
own, passed as ``xp``, and two things differ from eager CuPy, both invisible
to the math:

* ``matmul`` goes straight to cuBLAS (``cublas.CaptureNamespace``);
* temporaries come from a private memory pool, so that no array made
  outside the graph can share memory with the graph's scratch space.
"""

from __future__ import annotations

import cupy

from ..base import Stepper
from .capture import record_graph
from .cublas import CaptureNamespace


class GraphStepper(Stepper):
    """Runs ``step(idx, xp=...)`` as CUDA graphs of up to ``steps_per_graph`` steps.

    Two graphs are captured per batch size, each with its own index and loss
    buffers: one of ``steps_per_graph`` steps for full chunks, and one of a
    single step for what evaluation points leave over. Replays at this size
    are bound by the GPU, not by launching, so a few steps per graph suffice
    and capture (which costs as much host time as the steps it records) stays
    short.

    Args:
        step: ``step(idx, xp=None) -> loss``; updates ``params`` in place.
        params: the parameters the step updates (saved around the warm-up).
        xp: the CuPy namespace the step runs in outside capture.
        steps_per_graph: steps recorded per graph.
    """

    def __init__(self, step, params, xp, steps_per_graph=10):
        self.step_fn, self.params = step, params
        self.k = int(steps_per_graph)
        self.chunk = max(1000, self.k)
        self.ns = CaptureNamespace(xp)
        self.pool = cupy.cuda.MemoryPool()
        self.stream = cupy.cuda.get_current_stream()
        if self.stream.ptr == 0:
            raise RuntimeError("GraphStepper needs a non-default stream (fit() provides one)")
        self.graphs = {}  # (steps, batch) -> (graph, idx_buf, loss_buf)

    def _step(self, idx):
        return self.step_fn(idx, xp=self.ns)

    def _capture(self, steps, batch):
        dt = self.params["W1"].dtype
        with cupy.cuda.using_allocator(self.pool.malloc):
            idx_buf = cupy.zeros((steps, batch), dtype=cupy.int64)
            loss_buf = cupy.zeros((steps,), dtype=dt)
            # warm-up: compile kernels, create handles, fill the private pool; on
            # saved parameters, restored after, so training is not stepped.
            saved = {k: v.copy() for k, v in self.params.items()}
            for i in range(2):
                loss_buf[i % steps] = self._step(idx_buf[i % steps])
            for k, v in saved.items():
                self.params[k][...] = v
            del saved
            self.stream.synchronize()

            def record():
                for i in range(steps):
                    loss_buf[i] = self._step(idx_buf[i])

            graph = record_graph(self.stream, record)
            graph.upload(self.stream)
        self.graphs[(steps, batch)] = (graph, idx_buf, loss_buf)
        return self.graphs[(steps, batch)]

    def _replay(self, idx_rows, out, start, steps):
        batch = idx_rows.shape[1]
        entry = self.graphs.get((steps, batch)) or self._capture(steps, batch)
        graph, idx_buf, loss_buf = entry
        idx_buf[...] = idx_rows[start : start + steps]
        graph.launch(self.stream)
        out[start : start + steps] = loss_buf

    def run(self, idx_rows):
        n = idx_rows.shape[0]
        out = cupy.empty((n,), dtype=self.params["W1"].dtype)
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
