import numpy as np
import pytest

import xpnet
from conftest import arr, host
from xpnet import SimpleNet, TwoLayerNet

BOOK_W = [[0.47355232, 0.9977393, 0.84668094], [0.85557411, 0.03563661, 0.69422093]]


def test_simple_net_book_values(xp):
    b = xpnet.backend.backend_of(xp).name
    net = SimpleNet(W=np.array(BOOK_W), backend=b)
    x = arr(xp, [0.6, 0.9])
    np.testing.assert_allclose(host(net.predict(x)), [1.05414809, 0.63071653, 1.1328074], rtol=1e-7)
    t = arr(xp, [0, 0, 1])
    assert float(net.loss(x, t)) == pytest.approx(0.92806853663411326, rel=1e-6)  # W printed to 8 digits
    dW = host(net.numerical_gradient(x, t))
    np.testing.assert_allclose(
        dW, [[0.21924763, 0.14356247, -0.36281009], [0.32887144, 0.2153437, -0.54421514]], rtol=1e-6
    )
    assert np.array_equal(host(net.W), np.array(BOOK_W))


def _batch(b, n=20, d=12, c=4, seed=1, dtype="float64"):
    rng = np.random.default_rng(seed)
    x = xpnet.asarray(rng.random((n, d)), dtype=dtype, backend=b)
    t = xpnet.asarray(rng.integers(0, c, n), backend=b)
    return x, t


def test_two_layer_net_shapes_and_seed(backend, dtype):
    net = TwoLayerNet(12, 7, 4, seed=5, dtype=dtype)
    shapes = {k: tuple(v.shape) for k, v in net.params.items()}
    assert shapes == {"W1": (12, 7), "b1": (7,), "W2": (7, 4), "b2": (4,)}
    same = TwoLayerNet(12, 7, 4, seed=5, dtype=dtype, backend="numpy")
    for k in net.params:  # one seed: bit-identical weights on every backend
        assert np.array_equal(host(net.params[k]), same.params[k])
        assert host(net.params[k]).dtype == np.dtype(dtype)
    assert not np.array_equal(host(TwoLayerNet(12, 7, 4, seed=6).params["W1"]), same.params["W1"])
    x, t = _batch(backend, dtype=dtype)
    y = host(net.predict(x))
    assert y.shape == (20, 4)
    np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-6)


def test_accuracy_labels_and_one_hot(backend):
    net = TwoLayerNet(12, 7, 4, seed=0, weight_init_std=1.0)
    x, t = _batch(backend)
    pred = np.argmax(host(net.predict(x)), axis=1)
    want = float(np.mean(pred == host(t)))
    assert net.accuracy(x, t) == pytest.approx(want)
    hot = xpnet.to_one_hot(t, 4)
    assert net.accuracy(x, hot) == pytest.approx(want)
    assert net.accuracy(x, t, batch_size=3) == pytest.approx(want)
    assert float(net.loss(x, t)) == pytest.approx(float(net.loss(x, hot)), rel=1e-14)


def test_backprop_matches_numerical(backend):
    """Gradient check on a small net, on every backend."""
    net = TwoLayerNet(12, 7, 4, seed=2, weight_init_std=0.5)
    x, t = _batch(backend, n=9)
    grads = net.gradient(x, t)
    for method in ("loop", "batched", "incremental"):
        num = net.numerical_gradient(x, t, method=method)
        for k in grads:
            g, n = host(grads[k]), host(num[k])
            rel = np.abs(g - n).max() / np.abs(n).max()
            assert rel < 1e-6, (method, k, rel)


def test_numerical_methods_agree_with_loop(backend):
    """Incremental and batched central differences equal the element loop to 1e-8."""
    for seed in range(3):
        net = TwoLayerNet(10, 6, 5, seed=seed, weight_init_std=1.0)
        x, t = _batch(backend, n=8, d=10, c=5, seed=seed + 10)
        loop = net.numerical_gradient(x, t, method="loop")
        for method, batch in (("incremental", "auto"), ("incremental", 7), ("batched", 5)):
            other = net.numerical_gradient(x, t, method=method, batch=batch)
            for k in loop:
                np.testing.assert_allclose(
                    host(other[k]), host(loop[k]), rtol=0, atol=1e-8, err_msg=f"{method} {batch} {k}"
                )


def test_soft_targets_incremental(backend):
    net = TwoLayerNet(6, 5, 3, seed=1, weight_init_std=1.0)
    rng = np.random.default_rng(0)
    x = xpnet.asarray(rng.random((4, 6)), backend=backend)
    soft = rng.random((4, 3))
    soft = xpnet.asarray(soft / soft.sum(axis=1, keepdims=True), backend=backend)
    loop = net.numerical_gradient(x, soft, method="loop")
    inc = net.numerical_gradient(x, soft)
    back = net.gradient(x, soft)
    for k in loop:
        np.testing.assert_allclose(host(inc[k]), host(loop[k]), atol=1e-8)
        np.testing.assert_allclose(host(back[k]), host(loop[k]), atol=1e-8)


def test_book_size_gradient_agreement():
    """The book's net, float64: backprop and numerical agree to 1e-6 relative."""
    net = TwoLayerNet(784, 50, 10, seed=0)
    rng = np.random.default_rng(1)
    x, t = rng.random((30, 784)), rng.integers(0, 10, 30)
    back, num = net.gradient(x, t), net.numerical_gradient(x, t)
    for k in back:
        assert np.abs(back[k] - num[k]).max() / np.abs(num[k]).max() < 1e-6


def test_bad_inputs():
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        TwoLayerNet(4, 0, 2)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        TwoLayerNet(4, 3, 2, dtype="int32")
    with pytest.raises(ValueError, match="weight_init_std"):
        TwoLayerNet(4, 3, 2, weight_init_std=-1)
    net = TwoLayerNet(4, 3, 2, seed=0)
    with pytest.raises(ValueError, match="4 features per sample"):
        net.predict(np.zeros((5, 3)))
    with pytest.raises(TypeError, match="x must be a floating-point"):
        net.predict(np.zeros((5, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="labels from 0 to 7"):
        net.gradient(np.zeros((2, 4)), np.array([0, 7]))
    with pytest.raises(ValueError, match="t must be integer labels of shape"):
        net.gradient(np.zeros((2, 4)), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="method must be"):
        net.numerical_gradient(np.zeros((2, 4)), np.array([0, 1]), method="magic")


def test_save_load_roundtrip_across_backends(tmp_path, backend):
    net = TwoLayerNet(12, 7, 4, seed=3, backend="numpy")
    path = tmp_path / "params.npz"
    net.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["params.npz"]
    loaded = TwoLayerNet.load(path, backend=backend)
    x, t = _batch(backend)
    for k in net.params:
        assert np.array_equal(host(loaded.params[k]), net.params[k])
    assert loaded.accuracy(x, t) == net.accuracy(host(x), host(t))
    f32 = TwoLayerNet.load(path, backend=backend, dtype="float32")
    assert host(f32.params["W1"]).dtype == np.float32
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a TwoLayerNet parameter file"):
        TwoLayerNet.load(tmp_path / "bad.npz")


def test_gradient_check_prints(capsys):
    net = TwoLayerNet(8, 5, 3, seed=0, weight_init_std=0.5)
    rng = np.random.default_rng(0)
    report = xpnet.gradient_check(net, rng.random((6, 8)), rng.integers(0, 3, 6))
    out = capsys.readouterr().out
    assert "W1" in out and "max |diff|" in out
    assert set(report) == {"W1", "b1", "W2", "b2"}
    assert all(v["max_abs"] < 1e-8 for v in report.values())


def test_incremental_sparse_inputs_agree_with_loop(backend):
    """Inputs that are mostly zero (like MNIST's pixels) take the sparse path: only
    (input, sample) pairs with a nonzero input are recomputed."""
    rng = np.random.default_rng(7)
    x = rng.random((9, 12))
    x[rng.random((9, 12)) < 0.8] = 0.0
    x[:, 3] = 0.0  # an input that is zero in every sample: exactly zero gradient
    xb = xpnet.asarray(x, backend=backend)
    t = xpnet.asarray(rng.integers(0, 4, 9), backend=backend)
    net = TwoLayerNet(12, 6, 4, seed=1, weight_init_std=1.0)
    loop = net.numerical_gradient(xb, t, method="loop")
    for batch in ("auto", 7, 100):
        inc = net.numerical_gradient(xb, t, batch=batch)
        for k in loop:
            np.testing.assert_allclose(host(inc[k]), host(loop[k]), rtol=0, atol=1e-8, err_msg=f"{k} {batch}")
    assert np.all(host(inc["W1"])[3] == 0)
    back = net.gradient(xb, t)
    assert np.abs(host(back["W1"]) - host(inc["W1"])).max() < 1e-8


def test_incremental_gradient_without_data_dependent_shapes():
    """Where a library has no data-dependent shapes (JAX; array-api-strict so configured), the
    incremental gradient takes its dense path and still equals the element loop."""
    import array_api_strict

    from xpnet.incremental_numgrad import _data_dependent_shapes

    rng = np.random.default_rng(4)
    x = rng.random((6, 10))
    x[x < 0.6] = 0  # mostly zeros: the sparse path would be chosen
    t = rng.integers(0, 3, 6)
    net = TwoLayerNet(10, 4, 3, seed=1, weight_init_std=1.0, backend="array_api_strict")
    xs, ts = xpnet.asarray(x, backend="array_api_strict"), xpnet.asarray(t, backend="array_api_strict")
    loop = net.numerical_gradient(xs, ts, method="loop")
    with array_api_strict.ArrayAPIStrictFlags(data_dependent_shapes=False):
        assert not _data_dependent_shapes(array_api_strict)
        inc = net.numerical_gradient(xs, ts)
    assert _data_dependent_shapes(array_api_strict)
    for k in loop:
        np.testing.assert_allclose(host(inc[k]), host(loop[k]), rtol=1e-7, atol=1e-10)


def test_two_layer_net_reads_well_in_a_repr():
    assert repr(TwoLayerNet(784, 50, 10)) == "TwoLayerNet(784, 50, 10, dtype=float64, backend=numpy)"
    assert repr(TwoLayerNet(4, 3, 2, dtype="float32")) == "TwoLayerNet(4, 3, 2, dtype=float32, backend=numpy)"


@pytest.mark.parametrize(
    "shape,hint",
    [((2, 28, 28), "x.reshape(len(x), -1)"), ((2, 1, 28, 28), "x.reshape(len(x), -1)"), ((28, 28), "x.reshape(1, -1)")],
)
def test_images_get_the_hint_to_flatten_them(shape, hint):
    net = TwoLayerNet(784, 5, 10)
    with pytest.raises(ValueError, match="flatten") as info:
        net.predict(np.zeros(shape))
    assert hint in str(info.value)


def test_float_labels_are_told_to_become_integers():
    with pytest.raises(ValueError, match="convert them to integers"):
        xpnet.cross_entropy_error(np.full((3, 4), 0.25), np.array([0.0, 1.0, 2.0]))


@pytest.mark.parametrize("value", [None, "a", [1.0]])
def test_f_returning_no_number_is_named(value):
    with pytest.raises(TypeError, match="f must return one number") as info:
        xpnet.numerical_gradient(lambda w: value, np.ones(3))
    assert ("forget to return" in str(info.value)) == (value is None)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "0"])
def test_a_bad_seed_is_named_with_its_range(seed):
    with pytest.raises(ValueError, match=r"seed must be None or a whole number from 0 to 2\*\*32 - 1, got "):
        TwoLayerNet(4, 3, 2, seed=seed)
