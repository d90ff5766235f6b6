import numpy as np
import pytest

import xpnet
from conftest import CUPY_SKIP
from xpnet.backend import BackendError


def test_default_and_env(monkeypatch):
    assert xpnet.get_backend() == "numpy"
    monkeypatch.setenv("XPNET_BACKEND", "array_api_strict")
    assert xpnet.get_backend() == "array_api_strict"
    net = xpnet.TwoLayerNet(3, 2, 2, seed=0)
    assert xpnet.backend.backend_of(net.xp).name == "array_api_strict"
    monkeypatch.setenv("XPNET_BACKEND", "tensorflow")
    with pytest.raises(ValueError, match="numpy, cupy, array_api_strict, torch, jax"):
        xpnet.get_backend()


def test_unknown_name_lists_valid():
    with pytest.raises(ValueError, match="valid backends are numpy, cupy, array_api_strict, torch, jax"):
        xpnet.set_backend("mxnet")


def test_set_backend_and_context(monkeypatch):
    monkeypatch.setattr(xpnet.backend, "_explicit", None)
    monkeypatch.setenv("XPNET_BACKEND", "numpy")
    xpnet.set_backend("array_api_strict")
    try:
        assert xpnet.get_backend() == "array_api_strict"  # code choice beats the variable's default
        with xpnet.use_backend("numpy") as xp:
            assert xpnet.get_backend() == "numpy"
            assert isinstance(xpnet.asarray([1.0]), np.ndarray)
            assert xp is xpnet.get_namespace("numpy")
        assert xpnet.get_backend() == "array_api_strict"
    finally:
        monkeypatch.setattr(xpnet.backend, "_explicit", None)


@pytest.mark.skipif(CUPY_SKIP is None, reason="this machine has a GPU; the error path needs none")
def test_cupy_without_gpu_is_an_error_not_a_fallback():
    with pytest.raises(BackendError, match=r"pip install 'xpnet\[cuda12\]'|CUDA|no CUDA device"):
        xpnet.set_backend("cupy")
    assert xpnet.get_backend() == "numpy"


def test_cupy_missing_message(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *a, **k):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(xpnet.backend.registry, "_cache", {})  # a backend loaded afresh
    with pytest.raises(BackendError, match=r"CuPy is not installed: pip install '\.\[cuda12\]' .* from a checkout"):
        xpnet.get_namespace("cupy")


def test_to_numpy_and_asarray(backend):
    a = xpnet.asarray([[1, 2], [3, 4]], dtype="float32")
    assert xpnet.backend.backend_of(xpnet.namespace(a)).name == backend
    h = xpnet.to_numpy(a)
    assert isinstance(h, np.ndarray) and h.dtype == np.float32
    assert np.array_equal(h, [[1, 2], [3, 4]])


def test_rng_same_on_every_backend(backend):
    a = xpnet.to_numpy(xpnet.Rng(7).normal((3, 4), 0.5))
    b = xpnet.Rng(7).normal((3, 4), 0.5, backend="numpy")
    assert np.array_equal(a, b)
    i = xpnet.to_numpy(xpnet.Rng(7).integers(10, (5,)))
    assert i.dtype == np.int64 and i.min() >= 0 and i.max() < 10


def test_namespace_from_inputs_not_env(monkeypatch):
    monkeypatch.setenv("XPNET_BACKEND", "array_api_strict")
    y = xpnet.softmax(np.array([1.0, 2.0]))
    assert isinstance(y, np.ndarray)  # numpy in, numpy out, whatever the variable says
