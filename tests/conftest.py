"""Backends to run the math on: (namespace, device, dtype) as in scikit-learn's array-API tests."""

from __future__ import annotations

import importlib.util
import io
import os
import pathlib
import zipfile

import numpy as np
import pytest

import xpnet

SHARED_MNIST = pathlib.Path(
    os.environ.get("XPNET_TEST_MNIST_DIR")
    or pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
)


def _cupy_reason():
    if importlib.util.find_spec("cupy") is None:
        return "CuPy is not installed"
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA device"
    except Exception as exc:  # driver missing
        return f"no usable CUDA device ({type(exc).__name__})"
    return None


CUPY_SKIP = _cupy_reason()

#: The Array API standard version xpnet targets (README): the strict backend is held to it.
ARRAY_API_VERSION = "2024.12"
if importlib.util.find_spec("array_api_strict") is not None:
    import array_api_strict

    array_api_strict.set_array_api_strict_flags(api_version=ARRAY_API_VERSION)
TORCH_SKIP = (
    None
    if importlib.util.find_spec("torch")
    else "PyTorch is not installed (a CPU build: pip install torch --index-url https://download.pytorch.org/whl/cpu)"
)
JAX_SKIP = None if importlib.util.find_spec("jax") else "JAX is not installed: pip install '.[jax]'"


def backend_params(include_torch=True):
    params = [
        pytest.param("numpy", id="numpy"),
        pytest.param("array_api_strict", id="array_api_strict"),
        pytest.param("cupy", id="cupy", marks=pytest.mark.skipif(CUPY_SKIP is not None, reason=f"cupy: {CUPY_SKIP}")),
    ]
    if include_torch:
        params.append(
            pytest.param(
                "torch", id="torch", marks=pytest.mark.skipif(TORCH_SKIP is not None, reason=f"torch: {TORCH_SKIP}")
            )
        )
    params.append(
        pytest.param("jax", id="jax", marks=pytest.mark.skipif(JAX_SKIP is not None, reason=f"jax: {JAX_SKIP}"))
    )
    return params


@pytest.fixture(params=backend_params())
def backend(request):
    """Name of a backend; the active backend is set to it for the test."""
    with xpnet.use_backend(request.param):
        yield request.param


@pytest.fixture
def xp(backend):
    return xpnet.get_namespace(backend)


@pytest.fixture(params=["float64", "float32"])
def dtype(request):
    return request.param


@pytest.fixture(autouse=True)
def _no_env_backend(monkeypatch):
    """Tests choose their backend explicitly; a caller's XPNET_BACKEND must not leak in."""
    monkeypatch.delenv("XPNET_BACKEND", raising=False)


def arr(xp, values, dtype="float64"):
    import numpy as np

    return xpnet.asarray(np.asarray(values), dtype=dtype, backend=xpnet.backend.backend_of(xp).name)


def host(a):
    return xpnet.to_numpy(a)


@pytest.fixture
def shared_mnist(tmp_path):
    """A copy of MNIST's official test files (real digits) in a temporary folder,
    so that caches are written there and never beside the shared originals."""
    import shutil

    source = SHARED_MNIST
    if not (source / "t10k-images-idx3-ubyte.gz").exists():  # the copy that ships with xpnet
        from xpnet.datasets import BUNDLED_DIR as source
    folder = tmp_path / "shared-mnist" / "mnist"
    folder.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(source / name, folder / name)
    return folder


def overflowed(net):
    """A net whose weights overflowed into NaN: the stable sigmoid and softmax keep any
    finite learning rate from producing NaN on their own (infinite scores included), so
    the test plants it."""
    net.params["W2"][0, 0] = float("nan")
    return net


def hostile_npy(descr):
    """An .npy whose header claims a shape of 2**50 elements, followed by a few bytes."""
    fh = io.BytesIO()
    np.lib.format.write_array_header_1_0(fh, {"descr": descr, "fortran_order": False, "shape": (2**50,)})
    return fh.getvalue() + b"\0" * 64


def replace_member(path, name, data):
    """Rewrite the zip (.npz) at ``path`` with its member ``name`` holding ``data``."""
    with zipfile.ZipFile(path) as old:
        members = {n: old.read(n) for n in old.namelist()}
    members[name] = data
    with zipfile.ZipFile(path, "w") as new:
        for n, d in members.items():
            new.writestr(n, d)
