"""GPU tests: skipped without CuPy and a CUDA device; run on a GPU machine before
resolving an issue that adds or changes them."""

import contextlib
import os
import subprocess
import sys

import numpy as np
import pytest

import xpnet
from conftest import CUPY_SKIP
from xpnet import TwoLayerNet
from xpnet.backend import accelerated
from xpnet.train import fit

pytestmark = pytest.mark.skipif(CUPY_SKIP is not None, reason=f"cupy: {CUPY_SKIP}")


@pytest.fixture
def cp():
    import cupy

    return cupy


def _batch(n=100, d=784, c=10, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)), rng.integers(0, c, n)


def _cupy_copy(net):
    return net.to("cupy")


def test_parity_numpy_cupy_forward_loss_gradients_sgd():
    """One seed: forward pass, loss, both gradients and 20 SGD steps agree to 1e-10 (float64)."""
    x, t = _batch()
    cpu = TwoLayerNet(784, 50, 10, seed=0, backend="numpy")
    gpu = TwoLayerNet(784, 50, 10, seed=0, backend="cupy")
    xg, tg = xpnet.asarray(x, backend="cupy"), xpnet.asarray(t, backend="cupy")
    np.testing.assert_allclose(xpnet.to_numpy(gpu.predict(xg)), cpu.predict(x), rtol=1e-10, atol=1e-14)
    assert float(gpu.loss(xg, tg)) == pytest.approx(float(cpu.loss(x, t)), rel=1e-10)
    for method in ("backprop", "incremental"):
        gc = cpu.gradient(x, t) if method == "backprop" else cpu.numerical_gradient(x, t)
        gg = gpu.gradient(xg, tg) if method == "backprop" else gpu.numerical_gradient(xg, tg)
        for k in gc:
            # absolute: a central difference turns the loss's rounding (~1e-16) into ~1e-12
            assert np.abs(xpnet.to_numpy(gg[k]) - gc[k]).max() <= 1e-10, (method, k)
    rng = np.random.default_rng(2)
    for _ in range(20):
        idx = rng.integers(0, 100, 20)
        gc, gg = cpu.gradient(x[idx], t[idx]), gpu.gradient(xg[idx], tg[idx])
        for k in cpu.params:
            cpu.params[k] -= 0.1 * gc[k]
            gpu.params[k] -= 0.1 * gg[k]
    for k in cpu.params:
        np.testing.assert_allclose(xpnet.to_numpy(gpu.params[k]), cpu.params[k], rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gemm_layouts(cp, dtype):
    from xpnet.backend.cupy.cublas import gemm

    rng = np.random.default_rng(0)
    for m, k, n in [(100, 784, 50), (7, 3, 5), (1, 9, 1)]:
        a = cp.asarray(rng.standard_normal((m, k)), dtype=dtype)
        b = cp.asarray(rng.standard_normal((k, n)), dtype=dtype)
        for aa, bb in [
            (a, b),
            (cp.ascontiguousarray(a.T).T, b),
            (a, cp.ascontiguousarray(b.T).T),
            (cp.ascontiguousarray(a.T).T, cp.ascontiguousarray(b.T).T),
            (a[:, ::1], b[::1, :]),
        ]:
            got = gemm(aa, bb)
            want = cp.matmul(aa, bb)
            tol = 1e-12 if dtype == "float64" else 1e-4
            np.testing.assert_allclose(cp.asnumpy(got), cp.asnumpy(want), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fused_kernels_match_array_api_code(cp, dtype):
    rng = np.random.default_rng(0)
    x = cp.asarray(rng.standard_normal((64, 50)) * 30, dtype=dtype)
    with accelerated(False):
        plain = xpnet.sigmoid(x)
    fused = xpnet.sigmoid(x)
    tol = 1e-15 if dtype == "float64" else 1e-7
    np.testing.assert_allclose(cp.asnumpy(fused), cp.asnumpy(plain), rtol=tol, atol=0)
    net = TwoLayerNet(50, 20, 10, seed=0, dtype=dtype, backend="cupy")
    t = cp.asarray(rng.integers(0, 10, 64))
    with accelerated(False):
        g_plain = net.gradient(x, t)
    g_fused = net.gradient(x, t)
    for k in g_plain:
        np.testing.assert_allclose(
            cp.asnumpy(g_fused[k]),
            cp.asnumpy(g_plain[k]),
            rtol=1e-12 if dtype == "float64" else 1e-5,
            atol=1e-15 if dtype == "float64" else 1e-7,
        )


@contextlib.contextmanager
def _counting_graphs_and_kernels(monkeypatch):
    """Counts CUDA graph captures, graph launches and fused-kernel calls while the block runs, so
    that a fast == plain test cannot pass with the fast path switched off."""
    from xpnet.backend.cupy import kernels, steppers

    counts = {"captures": 0, "launches": 0, "fused": 0}

    def counted(owner, name, key):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            counts[key] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)
        return original

    originals = [
        (steppers.GraphStepper, "_capture", counted(steppers.GraphStepper, "_capture", "captures")),
        (steppers.GraphStepper, "_replay", counted(steppers.GraphStepper, "_replay", "launches")),
        (kernels, "softmax_loss_grad", counted(kernels, "softmax_loss_grad", "fused")),
    ]
    try:
        yield counts
    finally:
        for owner, name, original in originals:
            monkeypatch.setattr(owner, name, original)


def test_graph_fast_path_equals_plain_path(cp, monkeypatch):
    """CUDA graph + fused kernels give the plain path's parameters (1e-12, float64)."""
    rng = np.random.default_rng(0)
    x = xpnet.asarray(rng.random((1000, 784)), backend="cupy")
    t = xpnet.asarray(rng.integers(0, 10, 1000), backend="cupy")
    plain = TwoLayerNet(784, 50, 10, seed=0, backend="cupy")
    fast = TwoLayerNet(784, 50, 10, seed=0, backend="cupy")
    with _counting_graphs_and_kernels(monkeypatch) as counts:
        hp = fit(plain, x, t, iters=257, batch_size=100, lr=0.1, seed=3, progress=False, fast=False)
    assert counts == {"captures": 0, "launches": 0, "fused": 0}  # the plain path is plain
    with _counting_graphs_and_kernels(monkeypatch) as counts:
        hf = fit(fast, x, t, iters=257, batch_size=100, lr=0.1, seed=3, progress=False, fast=True)
    # the fast path ran: graphs captured, every step replayed from one (10 steps a replay at most),
    # the fused softmax-loss kernel recorded in them
    assert counts["captures"] >= 1 and counts["launches"] >= 257 // 10 and counts["fused"] > 0, counts
    np.testing.assert_allclose(hf.loss, hp.loss, rtol=1e-12)
    for k in plain.params:
        np.testing.assert_allclose(cp.asnumpy(fast.params[k]), cp.asnumpy(plain.params[k]), rtol=0, atol=1e-12)
    assert [r["train_acc"] for r in hf.epochs] == [r["train_acc"] for r in hp.epochs]


def test_fit_numpy_vs_cupy_fast(cp):
    """Same seed: loss curve and accuracies agree between numpy and the cupy fast path."""
    rng = np.random.default_rng(1)
    x, t = rng.random((2000, 784)), rng.integers(0, 10, 2000)
    xt, tt = rng.random((500, 784)), rng.integers(0, 10, 500)
    cpu = TwoLayerNet(784, 50, 10, seed=0, backend="numpy")
    gpu = TwoLayerNet(784, 50, 10, seed=0, backend="cupy")
    hc = fit(cpu, x, t, xt, tt, iters=450, seed=4, progress=False)
    to = lambda a: xpnet.asarray(a, backend="cupy")  # noqa: E731
    hg = fit(gpu, to(x), to(t), to(xt), to(tt), iters=450, seed=4, progress=False)
    np.testing.assert_allclose(hg.loss, hc.loss, rtol=1e-6)
    for a, b in zip(hg.epochs, hc.epochs):
        assert abs(a["train_acc"] - b["train_acc"]) <= 1e-6 and abs(a["test_acc"] - b["test_acc"]) <= 1e-6


def test_float32_fast_path_trains(cp):
    rng = np.random.default_rng(1)
    centers = rng.standard_normal((10, 784))
    labels = rng.integers(0, 10, 3000)
    x = xpnet.asarray(centers[labels] + 0.5 * rng.standard_normal((3000, 784)), dtype="float32", backend="cupy")
    t = xpnet.asarray(labels, backend="cupy")
    net = TwoLayerNet(784, 50, 10, seed=0, dtype="float32", backend="cupy")
    h = fit(net, x, t, iters=600, seed=0, progress=False)
    assert h.final["train_acc"] > 0.95 and net.params["W1"].dtype == cp.float32


def test_trained_on_gpu_evaluated_on_cpu(tmp_path):
    rng = np.random.default_rng(1)
    x, t = rng.random((300, 784)), rng.integers(0, 10, 300)
    gpu = TwoLayerNet(784, 50, 10, seed=0, backend="cupy")
    fit(gpu, xpnet.asarray(x, backend="cupy"), xpnet.asarray(t, backend="cupy"), iters=120, seed=0, progress=False)
    gpu.save(tmp_path / "p.npz")
    cpu = TwoLayerNet.load(tmp_path / "p.npz", backend="numpy")
    assert isinstance(cpu.params["W1"], np.ndarray)
    assert cpu.accuracy(x, t) == gpu.accuracy(xpnet.asarray(x, backend="cupy"), xpnet.asarray(t, backend="cupy"))


def test_inputs_on_gpu_stay_on_gpu_whatever_the_variable(cp, monkeypatch):
    monkeypatch.setenv("XPNET_BACKEND", "numpy")
    y = xpnet.softmax(cp.asarray([1.0, 2.0, 3.0]))
    assert isinstance(y, cp.ndarray)
    with pytest.raises(TypeError, match="one library on one device"):
        xpnet.cross_entropy_error(cp.asarray([0.5, 0.5]), np.array([1, 0]))


def test_cli_on_gpu(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, XPNET_BACKEND="cupy", MPLBACKEND="Agg")
    run = subprocess.run(
        [
            sys.executable,
            os.path.join(root, "examples", "train.py"),
            "--dataset",
            "mnist-t10k",
            "--iters",
            "1000",
            "--out",
            str(tmp_path / "run"),
            "--no-progress",
            "--no-plots",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "backend cupy" in run.stdout and "CUDA device" in run.stdout
    net = TwoLayerNet.load(tmp_path / "run" / "params.npz", backend="numpy")
    assert isinstance(net.params["W1"], np.ndarray)
    print(run.stdout)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_each_kernel_equals_its_array_api_reference(cp, dtype):
    """Every kernel wrapper against the reference written from the Array-API formula it replaces."""
    import reference_kernels as ref
    from xpnet.backend.cupy import kernels

    rng = np.random.default_rng(0)
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == "float64" else dict(rtol=2e-5, atol=1e-6)
    n, d, hid, c = 64, 30, 20, 10
    g = lambda *shape: cp.asarray(rng.standard_normal(shape), dtype=dtype)  # noqa: E731
    a, b, z = g(n, hid), g(hid), cp.asarray(rng.random((n, hid)), dtype=dtype)
    scores, b2 = g(n, c), g(c)
    t = cp.asarray(np.eye(c)[rng.integers(0, c, n)], dtype=dtype)
    labels = cp.argmax(t, axis=1)

    def same(got, want):
        got = got if isinstance(got, tuple) else (got,)
        want = want if isinstance(want, tuple) else (want,)
        for x, y in zip(got, want):
            np.testing.assert_allclose(cp.asnumpy(x), cp.asnumpy(y), **tol)

    same(kernels.sigmoid(a * 30), ref.sigmoid(a * 30))
    same(kernels.bias_sigmoid(a, b), ref.bias_sigmoid(a, b))
    same(kernels.softmax_loss_grad(scores, b2, t, n), ref.softmax_loss_grad(scores, b2, t, n))
    same(kernels.sigmoid_backward(a, z), ref.sigmoid_backward(a, z))
    x, idx = g(n, d), cp.asarray(rng.integers(0, n, 16), dtype=cp.int64)
    same(kernels.take_rows((x, t), idx), ref.take_rows((x, t), idx))
    p1 = [g(5, 3), g(3), g(3, 2), g(2)]
    p2 = [v.copy() for v in p1]
    grads = [cp.ones_like(v) for v in p1]
    assert kernels.sgd_update(p1, grads, 0.5) is None and ref.sgd_update(p2, grads, 0.5) is None
    same(tuple(p1), tuple(p2))
    a1t, z1t, xr = g(hid, n), cp.asarray(rng.random((hid, n)), dtype=dtype), g(7, n)
    w2 = g(hid, c)
    a2c = scores - cp.max(scores, axis=1, keepdims=True)
    ntol = dict(rtol=1e-6, atol=1e-9) if dtype == "float64" else dict(rtol=5e-2, atol=5e-3)
    np.testing.assert_allclose(
        cp.asnumpy(kernels.numgrad_hidden(a1t, z1t, xr, w2, a2c, labels, 1e-4)),
        cp.asnumpy(ref.numgrad_hidden(a1t, z1t, xr, w2, a2c, labels, 1e-4)),
        **ntol,
    )
    for got, want in zip(kernels.numgrad_output(z1t, a2c, labels, 1e-4), ref.numgrad_output(z1t, a2c, labels, 1e-4)):
        np.testing.assert_allclose(cp.asnumpy(got), cp.asnumpy(want), **ntol)
    # the one convention: not for these inputs -> NotImplemented
    assert kernels.softmax_loss_grad(g(n, 40), g(40), g(n, 40), n) is NotImplemented
    assert kernels.bias_sigmoid(a, g(hid + 1)) is NotImplemented


def test_cublas_is_the_library_cupy_loaded(cp):
    """The library xpnet calls is a cuBLAS of CuPy's CUDA major version, and the one mapped for it."""
    from xpnet.backend.cupy import cublas
    from xpnet.backend.cupy.loader import loaded_libraries, major_of

    lib = cublas._cublas()
    major = cp.cuda.runtime.runtimeGetVersion() // 1000
    mapped = [p for p in loaded_libraries("libcublas.so") if major_of(p, "libcublas.so") == major]
    assert mapped and os.path.realpath(lib._name) in [os.path.realpath(p) for p in mapped]  # no soname fallback
    assert major_of(lib._name, "libcublas.so") == major


# ------------------------------------------------------------------ issue 20: the GPU check's cases


def test_headline_accuracies_equal_numpys():
    """``XPNET_BACKEND=cupy python examples/train.py``'s run (bundled digits, seed 0), fast and plain
    path, ends at NumPy's accuracies."""
    from xpnet.datasets import load_mnist_t10k

    finals = {}
    for name, backend, fast in (("numpy", "numpy", "auto"), ("cupy", "cupy", "auto"), ("plain", "cupy", False)):
        (x, t), (xt, tt) = load_mnist_t10k(dtype="float64", backend=backend)
        net = TwoLayerNet(784, 50, 10, seed=0, backend=backend)
        h = fit(net, x, t, xt, tt, iters=2000, seed=0, progress=False, fast=fast)
        finals[name] = (h.final["train_acc"], h.final["test_acc"], h.loss)
    for name in ("cupy", "plain"):
        assert abs(finals[name][0] - finals["numpy"][0]) <= 0.002, name
        assert abs(finals[name][1] - finals["numpy"][1]) <= 0.002, name
        np.testing.assert_allclose(finals[name][2][:100], finals["numpy"][2][:100], rtol=1e-8)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_infinite_scores_in_the_fused_softmax(cp, dtype):
    """Rows with inf and -inf give the Array-API softmax's loss and gradient, not NaN."""
    import reference_kernels as ref
    from xpnet.backend.cupy import kernels

    scores = cp.asarray(
        [[np.inf, 0, 0], [-np.inf, -np.inf, -np.inf], [np.inf, np.inf, 1], [-np.inf, 2, 1]], dtype=dtype
    )
    b = cp.zeros(3, dtype=dtype)
    t = cp.asarray(np.eye(3)[[0, 1, 0, 1]], dtype=dtype)
    got, want = kernels.softmax_loss_grad(scores, b, t, 4), ref.softmax_loss_grad(scores, b, t, 4)
    assert bool(cp.isfinite(got[0])) and float(got[0]) == pytest.approx(float(want[0]), rel=1e-6)
    for g, w in zip(got[1:], want[1:]):
        np.testing.assert_allclose(cp.asnumpy(g), cp.asnumpy(w), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("bad", ["int64", "int32", "float16"])
def test_fused_functions_refuse_what_the_array_api_refuses(cp, bad):
    x = cp.arange(6).astype(bad).reshape(2, 3)
    with pytest.raises(TypeError, match="floating-point"):
        xpnet.sigmoid(x)
    net = TwoLayerNet(3, 4, 2, seed=0, backend="cupy")
    with pytest.raises(TypeError, match="floating-point"):
        net.gradient(x, cp.asarray([0, 1]))


def test_fit_many_on_cupy_equals_separate_fits():
    rng = np.random.default_rng(0)
    x = xpnet.asarray(rng.random((300, 16)), backend="cupy")
    t = xpnet.asarray(rng.integers(0, 4, 300), backend="cupy")
    nets = [TwoLayerNet(16, 10, 4, seed=i, backend="cupy") for i in range(3)]
    hs = xpnet.fit_many(nets, x, t, lr=[0.1, 0.5, 1.0], seed=[1, 2, 3], iters=150, batch_size=20)
    for i, h in enumerate(hs):
        ref = TwoLayerNet(16, 10, 4, seed=i, backend="cupy")
        hr = fit(ref, x, t, lr=[0.1, 0.5, 1.0][i], seed=i + 1, iters=150, batch_size=20, progress=False)
        np.testing.assert_allclose(h.loss, hr.loss, rtol=1e-9)
        for k in ref.params:
            np.testing.assert_allclose(
                xpnet.to_numpy(nets[i].params[k]), xpnet.to_numpy(ref.params[k]), rtol=1e-9, atol=1e-12
            )


@pytest.mark.parametrize("spec", ["cupy:0", "cupy:cuda:0", "cupy:cuda", "cupy:LAST"])
def test_the_device_option_by_index_and_by_name(cp, spec):
    n = cp.cuda.runtime.getDeviceCount()
    spec = spec.replace("LAST", str(n - 1))
    index = int(spec.rsplit(":", 1)[1]) if spec[-1].isdigit() else 0
    with xpnet.use_backend(spec):
        net = TwoLayerNet(8, 5, 3, seed=0)
        x = xpnet.asarray(np.random.default_rng(0).random((40, 8)))
        t = xpnet.asarray(np.arange(40) % 3)
        assert {v.device.id for v in net.params.values()} == {index}  # biases too
        assert xpnet.to_one_hot(t, 3).device.id == index
        h = fit(net, x, t, iters=30, batch_size=10, progress=False)
        assert h.iterations == 30 and {v.device.id for v in net.params.values()} == {index}
        name = xpnet.device_name(xpnet.get_namespace(), xpnet.backend.get_device())
        assert name.endswith(f"(CUDA device {index})")
