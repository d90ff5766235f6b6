"""A device next to the backend (issue 12): XPNET_DEVICE, device=, and name:device backend names.

array-api-strict has stand-in devices ('device1', ...) and JAX can be given two host devices,
so placement and mixing are checked without a GPU."""

import os
import subprocess
import sys

import numpy as np
import pytest

import xpnet
from conftest import JAX_SKIP
from xpnet import TwoLayerNet
from xpnet.backend import get_device
from xpnet.train import fit


def _data(n=200, d=8, c=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((c, d)) * 2
    labels = rng.integers(0, c, n)
    return centers[labels] + rng.standard_normal((n, d)), labels


def test_new_arrays_are_made_on_the_chosen_device():
    import array_api_strict as xps

    with xpnet.use_backend("array_api_strict", device="device1"):
        assert get_device() == xps.Device("device1")
        net = TwoLayerNet(8, 5, 3, seed=0)
        assert {str(v.device) for v in net.params.values()} == {"array_api_strict.Device('device1')"}
        assert xpnet.asarray([1.0, 2.0]).device == xps.Device("device1")
        assert xpnet.Rng(0).normal((2,)).device == xps.Device("device1")
        assert xpnet.asarray([1.0], backend="numpy").dtype == np.float64  # another backend: its default
    assert get_device("array_api_strict:device2") == xps.Device("device2")
    assert get_device() is None  # numpy, the library's default


def test_training_on_another_device_gives_the_same_numbers():
    x, t = _data()
    results = []
    for device in (None, "device1"):
        with xpnet.use_backend("array_api_strict", device=device):
            net = TwoLayerNet(8, 5, 3, seed=0)
            h = fit(net, xpnet.asarray(x), xpnet.asarray(t), iters=60, batch_size=20, seed=1, progress=False)
            results.append((h.loss, h.final["train_acc"], xpnet.to_numpy(net.params["W1"])))
    assert results[0][0] == results[1][0] and results[0][1] == results[1][1]
    assert np.array_equal(results[0][2], results[1][2])


def test_the_loaders_place_data_on_the_device(tmp_path):
    import array_api_strict as xps

    from xpnet.datasets import load_mnist_t10k

    with xpnet.use_backend("array_api_strict:device2"):
        (x, t), _ = load_mnist_t10k(data_dir=tmp_path)
    assert x.device == xps.Device("device2") and t.device == xps.Device("device2")


def test_mixing_devices_and_unknown_devices_are_clear_errors(monkeypatch):
    with xpnet.use_backend("array_api_strict", device="device1"):
        net = TwoLayerNet(8, 5, 3, seed=0)
    x, t = _data()
    with pytest.raises(TypeError, match="inputs live on different devices"):
        net.loss(xpnet.asarray(x, backend="array_api_strict"), xpnet.asarray(t, backend="array_api_strict"))
    with pytest.raises(ValueError, match=r"unknown device 'cuda' for backend numpy: its devices are cpu"):
        xpnet.set_backend("numpy", device="cuda")
    with pytest.raises(ValueError, match=r"unknown device 'device9' .* device1, device2"):
        xpnet.use_backend("array_api_strict:device9").__enter__()
    monkeypatch.setenv("XPNET_BACKEND", "array_api_strict")
    monkeypatch.setenv("XPNET_DEVICE", "device2")
    assert str(get_device()) == "array_api_strict.Device('device2')"


@pytest.mark.skipif(JAX_SKIP is not None, reason=f"jax: {JAX_SKIP}")
def test_jax_on_its_second_host_device():
    code = r"""
import numpy as np, xpnet
from xpnet.train import fit
rng = np.random.default_rng(0)
x, t = rng.random((200, 8)), rng.integers(0, 3, 200)
out = []
for backend in ("jax:cpu:0", "jax:cpu:1"):
    with xpnet.use_backend(backend):
        net = xpnet.TwoLayerNet(8, 5, 3, seed=0)
        h = fit(net, xpnet.asarray(x), xpnet.asarray(t), iters=50, batch_size=20, seed=1, progress=False)
        out.append((str(net.params["W1"].device), h.loss[-1]))
print(out[0][0], out[1][0], out[0][1] == out[1][1])
"""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    env.pop("XPNET_BACKEND", None)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["cpu:0", "cpu:1", "True"]


def test_cli_device_option(tmp_path):
    train = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "train.py")
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("XPNET_BACKEND", None)
    run = subprocess.run(
        [
            sys.executable,
            train,
            "--dataset",
            "mnist-t10k",
            "--iters",
            "5",
            "--device",
            "cuda",
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 2 and run.stderr.strip().splitlines() == [
        "train.py: error: unknown device 'cuda' for backend numpy: its devices are cpu (or their index, 0 to 0)"
    ]
    run = subprocess.run(
        [
            sys.executable,
            train,
            "--dataset",
            "mnist-t10k",
            "--iters",
            "5",
            "--backend",
            "array_api_strict",
            "--device",
            "device1",
            "--out",
            str(tmp_path / "ok"),
            "--no-plots",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr


def test_everything_xpnet_makes_is_made_on_the_chosen_device():
    """Parameters, biases, one-hot rows, mini-batch indices and every numerical gradient land on the
    device the inputs live on (array-api-strict's stand-in 'device2'; CuPy's rule is the same)."""
    import array_api_strict as xps

    from xpnet.runloop import IndexStream

    dev = xps.Device("device2")
    with xpnet.use_backend("array_api_strict", device="device2"):
        net = TwoLayerNet(4, 3, 2, seed=0)
        x = xpnet.asarray(np.random.default_rng(0).random((5, 4)))
        t = xpnet.asarray(np.array([0, 1, 1, 0, 1]))
    assert {v.device for v in net.params.values()} == {dev}
    assert xpnet.to_one_hot(t, 2).device == dev
    for method in ("incremental", "batched", "loop"):
        assert {g.device for g in net.numerical_gradient(x, t, method=method).values()} == {dev}, method
    assert {g.device for g in net.gradient(x, t).values()} == {dev}
    stream = IndexStream(xpnet.Rng(0), 5, 2, xps, dev, block=3)
    assert stream.take(4).device == dev


class _FakeCupy:
    """What CuPy reports, for the CuPy package's device hooks on a machine without a GPU."""

    def __init__(self):
        import types

        self.current, self.entered = 0, []
        fake = self

        class Device:
            def __init__(self, i=None):
                self.id = fake.current if i is None else i

            def __enter__(self):
                self.before, fake.current = fake.current, self.id
                fake.entered.append(self.id)
                return self

            def __exit__(self, *exc):
                fake.current = self.before

        runtime = types.SimpleNamespace(getDeviceProperties=lambda i: {"name": f"Fake GPU {i}".encode()})
        self.cuda = types.SimpleNamespace(Device=Device, runtime=runtime)


def test_cupy_hooks_enter_and_name_the_chosen_device(monkeypatch):
    fake = _FakeCupy()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    from xpnet.backend.cupy import BACKEND as package  # it asks CuPy only inside its methods

    chosen = fake.cuda.Device(1)
    with package.on_device(chosen):
        assert fake.current == 1  # CuPy's zeros and arange allocate here
    assert fake.current == 0 and fake.entered == [1]
    with package.on_device(None):
        assert fake.current == 0  # no device chosen: the current one
    assert package.device_name(None, chosen) == "Fake GPU 1 (CUDA device 1)"
    assert package.device_name(None, None) == "Fake GPU 0 (CUDA device 0)"
    source = os.path.join(os.path.dirname(xpnet.__file__), "backend", "cupy", "__init__.py")
    assert open(source).read().count("cupy.cuda.Device(device.id)") == 2  # run_scope enters it too (needs a GPU)
