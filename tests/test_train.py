import json

import numpy as np
import pytest

import xpnet
from conftest import host, overflowed
from xpnet import TwoLayerNet
from xpnet.train import fit


def _data(backend, n=300, d=16, c=4, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((c, d)) * 2
    labels = rng.integers(0, c, n)
    x = centers[labels] + rng.standard_normal((n, d))
    return xpnet.asarray(x, backend=backend), xpnet.asarray(labels, backend=backend)


def test_fit_learns_and_records(backend):
    x, t = _data(backend)
    net = TwoLayerNet(16, 10, 4, seed=0)
    seen = []
    h = fit(
        net,
        x[:200, ...],
        t[:200],
        x[200:, ...],
        t[200:],
        iters=300,
        batch_size=20,
        lr=0.5,
        seed=1,
        progress=False,
        callbacks=[lambda r, hist: seen.append(r["iteration"])],
    )
    assert len(h.loss) == 300 and h.iterations == 300 and h.stopped is None
    assert [r["iteration"] for r in h.epochs] == seen
    assert seen[0] == 1 and seen[1] == 11 and seen[-1] == 300  # the book's i % iter_per_epoch == 0, and the end
    assert np.mean(h.loss[-20:]) < np.mean(h.loss[:20]) / 3
    assert h.final["test_acc"] > 0.9 and h.final["train_acc"] > 0.9
    assert h.iters_per_second > 0


def test_fit_same_seed_same_numbers(backend):
    x, t = _data(backend)
    runs = []
    for _ in range(2):
        net = TwoLayerNet(16, 10, 4, seed=3)
        h = fit(net, x, t, iters=50, batch_size=10, lr=0.3, seed=5, progress=False)
        runs.append((h.loss, host(net.params["W1"])))
    assert runs[0][0] == runs[1][0]
    assert np.array_equal(runs[0][1], runs[1][1])


def test_fit_matches_across_backends(backend):
    """numpy vs another backend, one seed: same loss curve and accuracies (float64)."""
    xn, tn = _data("numpy")
    ref_net = TwoLayerNet(16, 10, 4, seed=3, backend="numpy")
    ref = fit(ref_net, xn, tn, xn, tn, iters=60, batch_size=10, lr=0.3, seed=5, progress=False)
    x, t = _data(backend)
    net = TwoLayerNet(16, 10, 4, seed=3)
    h = fit(net, x, t, x, t, iters=60, batch_size=10, lr=0.3, seed=5, progress=False)
    np.testing.assert_allclose(h.loss, ref.loss, rtol=1e-10)
    assert [r["test_acc"] for r in h.epochs] == [r["test_acc"] for r in ref.epochs]
    np.testing.assert_allclose(host(net.params["W2"]), ref_net.params["W2"], rtol=1e-10, atol=1e-12)


def test_fit_numerical_matches_backprop():
    x, t = _data("numpy", n=120, d=8, c=3)
    a, b = TwoLayerNet(8, 5, 3, seed=0), TwoLayerNet(8, 5, 3, seed=0)
    ha = fit(a, x, t, iters=15, batch_size=10, lr=0.5, seed=2, progress=False)
    hb = fit(b, x, t, iters=15, batch_size=10, lr=0.5, seed=2, progress=False, grad="numerical")
    np.testing.assert_allclose(hb.loss, ha.loss, rtol=1e-7)
    for k in a.params:
        np.testing.assert_allclose(b.params[k], a.params[k], rtol=1e-6, atol=1e-9)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf - inf in the planted net
def test_fit_stops_on_nonfinite_loss():
    x, t = _data("numpy")
    net = overflowed(TwoLayerNet(16, 10, 4, seed=0))
    h = fit(net, x, t, iters=2000, batch_size=20, lr=0.1, seed=0, progress=False)
    assert h.nonfinite_iteration == 1 and h.stopped.startswith("the loss became nan at iteration 1")
    assert len(h.loss) == h.nonfinite_iteration
    assert "--lr" in h.stopped


def test_fit_rejects_nonfinite_data():
    x, t = _data("numpy")
    x[3, 2] = float("nan")
    with pytest.raises(ValueError, match="x_train holds NaN or infinite values"):
        fit(TwoLayerNet(16, 10, 4), x, t, progress=False)


@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        ({"iters": 0}, "iters must be a positive int"),
        ({"batch_size": -1}, "batch_size must be a positive int"),
        ({"batch_size": 1000}, r"batch_size \(1000\) is larger than the training set \(300 rows\)"),
        ({"lr": 0.0}, "lr must be a positive number"),
        ({"lr": float("nan")}, "lr must be a positive number"),
        ({"grad": "magic"}, "grad must be one of backprop, numerical"),
    ],
)
def test_fit_bad_arguments(kwargs, pattern):
    x, t = _data("numpy")
    with pytest.raises(ValueError, match=pattern):
        fit(TwoLayerNet(16, 10, 4), x, t, progress=False, **kwargs)


def test_history_files(tmp_path):
    x, t = _data("numpy")
    h = fit(TwoLayerNet(16, 10, 4, seed=0), x, t, x, t, iters=30, batch_size=30, progress=False)
    h.save(tmp_path / "m.json")
    h.save_csv(tmp_path / "m.csv")
    data = json.loads((tmp_path / "m.json").read_text())
    assert len(data["loss"]) == 30 and data["epochs"][-1]["iteration"] == 30
    lines = (tmp_path / "m.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,iteration,loss") and len(lines) == 1 + len(h.epochs)


# ------------------------------------------------------------------ the command line


def test_progress_follows_tqdm_conventions(monkeypatch):
    import io

    x, t = _data("numpy")

    class Tty(io.StringIO):
        def isatty(self):
            return True

    for progress, stream, env, drawn in [
        (None, io.StringIO(), None, False),
        (None, Tty(), None, True),
        (True, io.StringIO(), None, True),
        (False, Tty(), None, False),
        (None, Tty(), "1", False),
        (True, io.StringIO(), "1", False),
    ]:
        if env is None:
            monkeypatch.delenv("TQDM_DISABLE", raising=False)
        else:
            monkeypatch.setenv("TQDM_DISABLE", env)
        fit(TwoLayerNet(16, 10, 4, seed=0), x, t, iters=30, batch_size=10, progress=progress, progress_file=stream)
        assert ("it/s" in stream.getvalue() or "s/it" in stream.getvalue()) == drawn, (progress, env)
    with pytest.raises(ValueError, match="progress must be None"):
        fit(TwoLayerNet(16, 10, 4), x, t, iters=1, batch_size=10, progress="yes")


def test_blas_threads_sized_to_the_step(monkeypatch):
    from threadpoolctl import threadpool_info

    x, t = _data("numpy")
    seen = []

    def record(r, h):
        seen.append([i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"])

    before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    h = fit(TwoLayerNet(16, 10, 4, seed=0), x, t, iters=20, batch_size=10, callbacks=[record], progress=False)
    assert h.config["blas_threads"] == 1 and seen and all(n == [1] * len(n) for n in seen)
    assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == before  # restored
    h = fit(TwoLayerNet(16, 10, 4, seed=0), x, t, iters=20, batch_size=10, progress=False, blas_threads=2)
    assert h.config["blas_threads"] == 2
    monkeypatch.setenv("XPNET_BLAS_THREADS", "3")
    assert fit(TwoLayerNet(16, 10, 4, seed=0), x, t, iters=5, batch_size=10, progress=False).config["blas_threads"] == 3
    monkeypatch.setenv("XPNET_BLAS_THREADS", "many")
    with pytest.raises(ValueError, match="XPNET_BLAS_THREADS must be a whole number of threads from 1 to 4096"):
        fit(TwoLayerNet(16, 10, 4, seed=0), x, t, iters=5, batch_size=10, progress=False)
    with pytest.raises(ValueError, match="blas_threads must be a positive int"):
        fit(TwoLayerNet(16, 10, 4, seed=0), x, t, iters=5, batch_size=10, progress=False, blas_threads=0)


def test_fit_on_immutable_arrays_stops_and_rolls_back():
    """JAX: the update rebinds, and a diverged run keeps the parameters from before it."""
    pytest.importorskip("jax", reason="JAX is not installed: pip install '.[jax]'")
    x, t = _data("jax")
    net = TwoLayerNet(16, 10, 4, seed=0, backend="jax")
    h = fit(net, x, t, iters=200, batch_size=20, lr=1e300, seed=0, progress=False)
    assert h.nonfinite_iteration is not None and h.iterations == h.nonfinite_iteration - 1
    again = TwoLayerNet(16, 10, 4, seed=0, backend="numpy")
    if h.iterations:
        fit(again, host(x), host(t), iters=h.iterations, batch_size=20, lr=1e300, seed=0, progress=False)
    for k in net.params:
        np.testing.assert_allclose(host(net.params[k]), again.params[k], rtol=1e-12)


def test_jax_scan_stepper_equals_the_plain_steps():
    """On JAX, fit compiles xpnet's own step and scans it; the numbers are the plain steps'."""
    pytest.importorskip("jax", reason="JAX is not installed: pip install '.[jax]'")
    from xpnet.backend.jax.steppers import ScanStepper

    x, t = _data("jax")
    plain = TwoLayerNet(16, 10, 4, seed=0, backend="jax")
    fast = TwoLayerNet(16, 10, 4, seed=0, backend="jax")
    hp = fit(plain, x, t, iters=257, batch_size=20, seed=3, progress=False, fast=False, eval_every=50)
    hf = fit(fast, x, t, iters=257, batch_size=20, seed=3, progress=False, eval_every=50)
    np.testing.assert_allclose(hf.loss, hp.loss, rtol=1e-12)
    for k in plain.params:
        np.testing.assert_allclose(host(fast.params[k]), host(plain.params[k]), rtol=1e-12, atol=1e-15)
    assert [r["train_acc"] for r in hf.epochs] == [r["train_acc"] for r in hp.epochs]
    stepper = xpnet.backend.faster(xpnet.get_namespace("jax")).stepper(lambda p, d, idx: None, {}, (), "auto")
    assert isinstance(stepper, ScanStepper)


@pytest.mark.parametrize("bad", [None, "net", "SimpleNet"])
def test_fit_names_what_it_was_given_instead_of_a_net(bad):
    x, t = np.random.default_rng(0).random((20, 4)), np.arange(20) % 3
    net = xpnet.SimpleNet() if bad == "SimpleNet" else bad
    with pytest.raises(TypeError, match="net must be a TwoLayerNet") as info:
        xpnet.fit(net, x, t, iters=5, batch_size=5)
    assert ("gradient_descent" in str(info.value)) == (bad == "SimpleNet")


def test_callbacks_are_checked_before_the_net_changes():
    x, t = np.random.default_rng(0).random((20, 4)), np.arange(20) % 3
    net = xpnet.TwoLayerNet(4, 3, 3)
    before = {k: v.copy() for k, v in net.params.items()}
    with pytest.raises(TypeError, match=r"callbacks\[1\] must be callable"):
        xpnet.fit(net, x, t, iters=5, batch_size=5, callbacks=[print, 1], progress=False)
    with pytest.raises(TypeError, match=r"wrap one in a list"):
        xpnet.fit(net, x, t, iters=5, batch_size=5, callbacks=print, progress=False)
    assert all(np.array_equal(before[k], net.params[k]) for k in before)


def test_device_images_with_host_labels_train_as_accuracy_takes_them():
    jnp = pytest.importorskip("jax.numpy", reason="JAX is not installed: pip install '.[jax]'")
    x, t = np.random.default_rng(0).random((40, 4)), np.arange(40) % 3
    net = xpnet.TwoLayerNet(4, 3, 3, backend="jax")
    assert xpnet.fit(net, jnp.asarray(x), t, iters=10, batch_size=5, progress=False).iterations == 10
    assert xpnet.fit_many([net], jnp.asarray(x), t, iters=10, batch_size=5, progress=False)[0].iterations == 10
    grads = net.gradient(jnp.asarray(x), t)
    assert type(grads["W1"]) is type(net.params["W1"])
