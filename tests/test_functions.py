import math
import warnings

import numpy as np
import pytest

import xpnet
from conftest import arr, host
from xpnet import cross_entropy_error, mean_squared_error, sigmoid, softmax, sum_squares_error

Y1 = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
Y2 = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
T = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]


def test_sum_squares_book_values(xp):
    assert float(mean_squared_error(arr(xp, Y1), arr(xp, T))) == pytest.approx(0.0975, abs=1e-15)
    assert float(sum_squares_error(arr(xp, Y2), arr(xp, T))) == pytest.approx(0.5975, abs=1e-15)


def test_sum_squares_integer_label_same_as_one_hot(xp):
    label = xpnet.asarray(np.array(2), backend=xpnet.backend.backend_of(xp).name)
    assert float(mean_squared_error(arr(xp, Y1), label)) == pytest.approx(0.0975, abs=1e-15)


def test_cross_entropy_book_values(xp):
    assert float(cross_entropy_error(arr(xp, Y1), arr(xp, T))) == pytest.approx(0.510825457099338, rel=1e-14)
    assert float(cross_entropy_error(arr(xp, Y2), arr(xp, T))) == pytest.approx(2.302584092994546, rel=1e-14)


def test_cross_entropy_labels_and_batch(xp):
    b = xpnet.backend.backend_of(xp).name
    y = arr(xp, [Y1, Y2])
    labels = xpnet.asarray(np.array([2, 2]), backend=b)
    hot = arr(xp, [T, T])
    expected = (0.510825457099338 + 2.302584092994546) / 2
    assert float(cross_entropy_error(y, labels)) == pytest.approx(expected, rel=1e-14)
    assert float(cross_entropy_error(y, hot)) == pytest.approx(expected, rel=1e-14)
    one = xpnet.asarray(np.array(2), backend=b)
    assert float(cross_entropy_error(arr(xp, Y1), one)) == pytest.approx(0.510825457099338, rel=1e-14)


def test_cross_entropy_float32(xp):
    got = float(cross_entropy_error(arr(xp, Y1, "float32"), arr(xp, T, "float32")))
    assert got == pytest.approx(0.510825457099338, rel=1e-6)


def test_sigmoid_values_and_no_overflow(xp, dtype):
    x = arr(xp, [-1000.0, -30.0, -1.0, 0.0, 1.0, 30.0, 1000.0], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise"):
            s = host(sigmoid(x))
    want = np.array(
        [0.0, 1 / (1 + math.exp(30)), 1 / (1 + math.e), 0.5, 1 / (1 + math.exp(-1)), 1 / (1 + math.exp(-30)), 1.0]
    )
    rtol = 1e-15 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(s, want, rtol=rtol, atol=0)
    assert s.dtype == np.dtype(dtype)


def test_softmax_rows_and_stability(xp, dtype):
    x = arr(xp, [[1010.0, 1000.0, 990.0], [0.3, 2.9, 4.0]], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise"):
            y = host(softmax(x))
    e = np.exp(np.array([0.3, 2.9, 4.0]) - 4.0)
    rtol = 1e-14 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(y[1], e / e.sum(), rtol=rtol)
    np.testing.assert_allclose(y[0], [9.99954600e-01, 4.53978686e-05, 2.06106005e-09], rtol=1e-6)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=rtol)
    single = host(softmax(arr(xp, [0.3, 2.9, 4.0], dtype)))
    np.testing.assert_allclose(single, e / e.sum(), rtol=rtol)


def test_softmax_extreme_finite_inputs(xp, dtype):
    big = float(np.finfo(dtype).max)
    x = arr(xp, [[big, -big, 0.0], [-big, -big, -big]], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise"):
            y = host(softmax(x))
    np.testing.assert_allclose(y, [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)


def test_bad_input_errors(xp):
    b = xpnet.backend.backend_of(xp).name
    y = arr(xp, [Y1, Y2])
    with pytest.raises(ValueError, match="t must be one-hot"):
        cross_entropy_error(y, arr(xp, T))  # one row of targets for two rows
    with pytest.raises(ValueError, match="labels from .* to 12"):
        cross_entropy_error(y, xpnet.asarray(np.array([2, 12]), backend=b))
    with pytest.raises(ValueError, match="labels from -1"):
        cross_entropy_error(y, xpnet.asarray(np.array([-1, 2]), backend=b))
    with pytest.raises(TypeError, match="y must be a floating-point array"):
        cross_entropy_error(xpnet.asarray(np.array([[0, 1]]), backend=b), xpnet.asarray(np.array([1]), backend=b))
    with pytest.raises(TypeError, match="x must be a floating-point"):
        sigmoid(xpnet.asarray(np.array([1, 2]), backend=b))
    with pytest.raises(ValueError, match="y must have 1 or 2 dimensions"):
        mean_squared_error(arr(xp, np.zeros((2, 2, 2))), arr(xp, np.zeros((2, 2, 2))))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        softmax(arr(xp, 1.0))


def test_mixed_libraries_error():
    import array_api_strict

    with pytest.raises(TypeError, match="one library on one device"):
        cross_entropy_error(np.array(Y1), array_api_strict.asarray(T))


def test_lists_use_active_backend():
    assert float(cross_entropy_error(Y1, T)) == pytest.approx(0.510825457099338)


def test_jax_jit_and_grad_through_the_loss():
    """No host read or device check stands in the way of jax.jit / jax.grad (issue 12)."""
    jax = pytest.importorskip("jax", reason="JAX is not installed: pip install '.[jax]'")
    xpnet.get_namespace("jax")  # switches on 64-bit, as the backend does
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    y = jnp.asarray(xpnet.softmax(rng.standard_normal((5, 3))))
    t = jnp.asarray(rng.integers(0, 3, 5))
    jitted = jax.jit(lambda y, t: cross_entropy_error(y, t))
    assert float(jitted(y, t)) == pytest.approx(float(cross_entropy_error(np.asarray(y), np.asarray(t))), rel=1e-14)
    net = xpnet.TwoLayerNet(4, 3, 3, seed=0, backend="jax")
    x = jnp.asarray(rng.random((5, 4)))

    def loss(W1):
        return cross_entropy_error(xpnet.nets.forward({**net.params, "W1": W1}, x)[3], t)

    g = jax.grad(loss)(net.params["W1"])
    np.testing.assert_allclose(np.asarray(g), np.asarray(net.gradient(x, t)["W1"]), rtol=1e-6, atol=1e-12)
