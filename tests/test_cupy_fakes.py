"""The CuPy backend's CUDA-side bookkeeping, checked on the CPU against fakes of what CuPy reports:
the graph capture keeps the step's own error; cuBLAS gets one workspace per device."""

import importlib
import sys
import types

import numpy as np
import pytest

from xpnet.backend.cupy.capture import record_graph


class _Stream:
    def __init__(self, end_error=None):
        self.capturing, self.ended, self.end_error = False, 0, end_error

    def begin_capture(self):
        self.capturing = True

    def end_capture(self):
        self.capturing, self.ended = False, self.ended + 1
        if self.end_error is not None:
            raise self.end_error
        return "graph"


def test_a_recorded_graph_is_returned_and_the_capture_ended():
    stream, launched = _Stream(), []
    assert record_graph(stream, lambda: launched.append(1)) == "graph"
    assert launched == [1] and stream.ended == 1 and not stream.capturing


def test_the_steps_own_error_survives_an_invalidated_capture():
    """A launch fails inside the capture; ending the invalidated capture fails too. The step's
    error is raised (the old ``finally: end_capture()`` raised the capture's instead)."""
    stream = _Stream(end_error=RuntimeError("cudaErrorStreamCaptureInvalidated"))

    def record():
        raise ValueError("matmul: shapes (100, 784) and (50, 10) do not fit")

    with pytest.raises(ValueError, match="do not fit") as caught:
        record_graph(stream, record)
    assert stream.ended == 1 and not stream.capturing  # the stream does not stay capturing
    if sys.version_info >= (3, 11):  # notes are 3.11's
        assert any("StreamCaptureInvalidated" in note for note in caught.value.__notes__)
    stream = _Stream()
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C during capture: ended too, not swallowed
        record_graph(stream, lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert stream.ended == 1 and not stream.capturing


class _Buffer:
    def __init__(self, nbytes, device, ptr):
        self.nbytes, self.device = nbytes, device
        self.data = types.SimpleNamespace(ptr=ptr)


class _FakeCupy(types.ModuleType):
    """What cublas.py asks of CuPy: the current device, that device's handle, and allocation there."""

    uint8 = np.uint8

    def __init__(self):
        super().__init__("cupy")
        self.current, self.made = 0, []
        runtime = types.SimpleNamespace(getDevice=lambda: self.current, runtimeGetVersion=lambda: 13000)
        device = types.SimpleNamespace(get_cublas_handle=lambda: 1000 + self.current)
        self.cuda = types.SimpleNamespace(runtime=runtime, device=device)

    def empty(self, n, dtype):
        self.made.append(self.current)
        return _Buffer(n * np.dtype(dtype).itemsize, self.current, ptr=0x1000 * len(self.made))


class _FakeLib:
    def __init__(self):
        self.workspaces = []

    def cublasSetStream_v2(self, handle, stream):
        return 0

    def cublasSetWorkspace_v2(self, handle, ptr, nbytes):
        self.workspaces.append((handle, ptr, nbytes))
        return 0


@pytest.fixture
def cublas_on_fakes(monkeypatch):
    fake = _FakeCupy()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.delitem(sys.modules, "xpnet.backend.cupy.cublas", raising=False)
    module = importlib.import_module("xpnet.backend.cupy.cublas")
    monkeypatch.setattr(module, "_lib", _FakeLib())
    yield fake, module
    sys.modules.pop("xpnet.backend.cupy.cublas", None)  # not kept bound to the fake


def test_each_device_gets_its_own_cublas_workspace(cublas_on_fakes):
    fake, cublas = cublas_on_fakes
    stream = types.SimpleNamespace(ptr=7)
    cublas._prepare_handle(stream)
    fake.current = 1
    cublas._prepare_handle(stream)
    fake.current = 0
    cublas._prepare_handle(stream)
    (h0, p0, n0), (h1, p1, n1), again = cublas._lib.workspaces
    assert (h0, h1) == (1000, 1001) and p0 != p1  # device 1's handle is not given device 0's memory
    assert fake.made == [0, 1]  # each made while its own device was current, once
    assert again == (h0, p0, n0) and n0 == n1 == cublas.WORKSPACE_BYTES
