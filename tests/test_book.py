"""The book's own code as xpnet's client (issue 10): with xpnet.book in place of the book's
common/ and dataset/ modules, the chapter-4 scripts print what they print with the book's."""

import os
import sys

import numpy as np
import pytest

import xpnet
import xpnet.book as xb
from xpnet.datasets import load_mnist_t10k
from xpnet.random import Rng

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import book_reference as book  # noqa: E402  (the book's chapter-4 code, written out)


def test_the_names_a_reader_looks_for():
    for name in (
        "sum_squared_error",
        "mean_squared_error",
        "simpleNet",
        "numerical_gradient_2d",
        "gradient_descent",
        "TwoLayerNet",
        "load_mnist",
        "softmax_loss",
        "relu_grad",
        "step_function",
        "identity_function",
    ):
        assert name in xb.__all__ and callable(getattr(xb, name))
    y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
    t = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    assert float(xb.sum_squared_error(y, t)) == pytest.approx(0.0975, rel=1e-12)
    assert float(xb.cross_entropy_error(y, t)) == pytest.approx(0.510825457099338, rel=1e-12)
    assert xb.step_function(np.array([-1.0, 1.0, 2.0])).tolist() == [0, 1, 1]
    assert xb.relu_grad(np.array([-1.0, 0.0, 2.0])).tolist() == [0.0, 1.0, 1.0]


def test_gradient_2d_and_gradient_method_forms():
    def function_2(x):
        return x[0] ** 2 + x[1] ** 2 if x.ndim == 1 else np.sum(x**2, axis=1)

    X = np.array([[3.0, 4.0], [0.0, 2.0], [3.0, 0.0]])
    g = xb.numerical_gradient_2d(function_2, X)
    np.testing.assert_allclose(g, 2 * X, atol=1e-7)
    assert X.tolist() == [[3.0, 4.0], [0.0, 2.0], [3.0, 0.0]]  # left as it was
    init = np.array([-3.0, 4.0])
    x, history = xb.gradient_descent(function_2, init, lr=0.1, step_num=100)
    assert history.shape == (100, 2) and history[0].tolist() == [-3.0, 4.0]
    np.testing.assert_allclose(x, [-6.11110793e-10, 8.14814391e-10], rtol=1e-8)


def test_seed_none_follows_numpys_global_seed():
    np.random.seed(3)
    net = xb.TwoLayerNet(784, 50, 10)
    simple = xb.simpleNet()
    np.random.seed(3)
    W1, W2 = 0.01 * np.random.randn(784, 50), 0.01 * np.random.randn(50, 10)
    W = np.random.randn(2, 3)
    assert np.array_equal(net.params["W1"], W1) and np.array_equal(net.params["W2"], W2)
    assert np.array_equal(simple.W, W)
    np.random.seed(5)
    drawn = Rng(None).integers(8000, (4, 100), backend=False)
    np.random.seed(5)
    assert np.array_equal(drawn, np.stack([np.random.choice(8000, 100) for _ in range(4)]))


def test_load_mnist_in_the_books_dtypes(tmp_path, monkeypatch, shared_mnist):
    from test_datasets import make_set

    monkeypatch.setenv("XPNET_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "no-keras"))
    make_set(tmp_path / "data" / "mnist", seed=2)
    (x, t), (xt, tt) = xb.load_mnist()
    assert isinstance(x, np.ndarray) and x.dtype == np.float32 and x.shape == (30, 784) and t.dtype == np.uint8
    (x, t), _ = xb.load_mnist(normalize=False, flatten=False, one_hot_label=True)
    assert x.dtype == np.uint8 and x.shape == (30, 1, 28, 28) and t.dtype == np.float64 and t.shape == (30, 10)
    assert np.array_equal(t.sum(axis=1), np.ones(30))


def _train_neuralnet(functions, x, t, xt, tt, iters):
    """ch04/train_neuralnet.py with the given common/ functions; returns what it prints and the net."""
    np.random.seed(0)
    net = book.two_layer_net_class(functions)(784, 50, 10, seed=0)
    printed = []
    train_size, batch_size, lr = x.shape[0], 100, 0.1
    iter_per_epoch = max(train_size / batch_size, 1)
    with np.errstate(over="ignore"):
        for i in range(iters):
            mask = np.random.choice(train_size, batch_size)
            grad = net.gradient(x[mask], t[mask])
            for key in ("W1", "b1", "W2", "b2"):
                net.params[key] -= lr * grad[key]
            loss = net.loss(x[mask], t[mask])
            if i % iter_per_epoch == 0:
                acc = [
                    float(np.sum(np.argmax(net.predict(a), axis=1) == np.argmax(b, axis=1)) / a.shape[0])
                    for a, b in ((x, t), (xt, tt))
                ]
                printed.append(f"train acc, test acc | {acc[0]}, {acc[1]}  loss {float(loss):.10f}")
    return printed, net


def test_train_neuralnet_prints_the_same_with_xpnet():
    (x, t), (xt, tt) = load_mnist_t10k(one_hot_label=True, dtype="float64", backend="numpy")
    ours, net_x = _train_neuralnet(xb, x, t, xt, tt, 2000)
    theirs, net_b = _train_neuralnet(book, x, t, xt, tt, 2000)
    assert ours == theirs and len(ours) == 25
    for k in net_b.params:
        assert np.abs(net_x.params[k] - net_b.params[k]).max() <= 3e-15, k
    assert float(ours[-1].split("|")[1].split(",")[1].split()[0]) > 0.85  # it learned (test accuracy)


def test_xpnet_book_names_are_xpnets_and_work_on_other_backends():
    import array_api_strict as xps

    assert xb.relu is xpnet.relu and xb.TwoLayerNet is xpnet.TwoLayerNet
    y = xps.asarray([[0.1, 0.9], [0.8, 0.2]])
    # sigmoid and softmax also take the book's ints; on floats they are xpnet's, on any backend
    assert type(xb.sigmoid(y)) is type(y) and bool(xps.all(xb.sigmoid(y) == xpnet.sigmoid(y)))
    assert bool(xps.all(xb.softmax(y) == xpnet.softmax(y)))
    assert float(xb.softmax_loss(y, xps.asarray([1, 0]))) == pytest.approx(
        float(xb.cross_entropy_error(xb.softmax(y), xps.asarray([1, 0])))
    )


def test_the_books_int_arrays_and_lists_give_the_books_results():
    """Chapter 3's own calls: ``softmax(np.array([1010, 1000, 990]))`` (ints) and lists."""
    from xpnet import book

    y = book.softmax(np.array([1010, 1000, 990]))
    np.testing.assert_allclose(y, [9.99954600e-01, 4.53978686e-05, 2.06106005e-09], rtol=1e-6)
    assert y.dtype == np.float64
    np.testing.assert_allclose(book.sigmoid(np.array([-1, 1, 2])), [0.26894142, 0.73105858, 0.88079708], rtol=1e-7)
    np.testing.assert_allclose(book.sigmoid([0, 1]), [0.5, 0.73105858], rtol=1e-7)
    np.testing.assert_allclose(book.sigmoid_grad(np.array([0])), [0.25])
    with pytest.raises(TypeError):  # the core API stays strict
        xpnet.softmax(np.array([1010, 1000, 990]))
