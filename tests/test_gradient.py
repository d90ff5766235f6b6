import numpy as np
import pytest

import xpnet
from conftest import arr, host
from xpnet import NonFiniteError, gradient_descent, numerical_diff, numerical_gradient


def function_1(x):
    return 0.01 * x**2 + 0.1 * x


def function_2(x):
    return x[0] ** 2 + x[1] ** 2


def test_numerical_diff_book_values():
    assert numerical_diff(function_1, 5.0) == pytest.approx(0.2, abs=1e-9)
    assert numerical_diff(function_1, 10.0) == pytest.approx(0.3, abs=1e-9)
    assert abs(numerical_diff(function_1, 5.0) - 0.2) > 0  # a real central difference, not the exact 0.2


def test_numerical_diff_arrays(xp):
    d = host(numerical_diff(function_1, arr(xp, [5.0, 10.0])))
    np.testing.assert_allclose(d, [0.2, 0.3], atol=1e-9)


def test_numerical_gradient_book_values(xp):
    for point, want in [([3.0, 4.0], [6.0, 8.0]), ([0.0, 2.0], [0.0, 4.0]), ([3.0, 0.0], [6.0, 0.0])]:
        g = host(numerical_gradient(function_2, arr(xp, point)))
        np.testing.assert_allclose(g, want, atol=1e-7)


def test_numerical_gradient_any_shape_and_restores_exactly(xp):
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((2, 3, 4))
    x = arr(xp, x0)
    w = arr(xp, rng.standard_normal((2, 3, 4)))
    g = host(numerical_gradient(lambda v: xp.sum(w * v**3), x))
    np.testing.assert_allclose(g, 3 * host(w) * x0**2, rtol=1e-6, atol=1e-8)
    assert np.array_equal(host(x), x0)  # bit for bit


def test_numerical_gradient_function_ignoring_argument(xp):
    x = arr(xp, [1.0, 2.0])
    f = lambda _w: x[0] * x[1]  # noqa: E731 -- the book's style: uses x, not its argument
    import array_api_compat

    if not array_api_compat.is_writeable_array(x):  # JAX: x cannot change in place, so one clear error
        with pytest.raises(TypeError, match="f ignores its argument .* cannot be changed in place"):
            numerical_gradient(f, x)
        return
    np.testing.assert_allclose(host(numerical_gradient(f, x)), [2.0, 1.0], atol=1e-8)


def test_numerical_gradient_restores_when_f_raises(xp):
    x0 = np.array([1.5, -2.25, 3.125])
    x = arr(xp, x0)
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("boom")
        return xp.sum(v)

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x)
    assert np.array_equal(host(x), x0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the function divides by zero on purpose
def test_numerical_gradient_rejects_int_and_nonfinite(xp):
    with pytest.raises(TypeError, match="x must be a floating-point"):
        numerical_gradient(function_2, xpnet.asarray(np.array([3, 4]), backend=xpnet.backend.backend_of(xp).name))
    with pytest.raises(NonFiniteError):
        numerical_gradient(lambda v: xp.sum(v) / (v[0] - v[0]), arr(xp, [1.0, 2.0]))
    with pytest.raises(ValueError, match="h must be"):
        numerical_gradient(function_2, arr(xp, [1.0, 2.0]), h=0)


def test_batched_matches_loop(xp, dtype):
    rng = np.random.default_rng(3)
    a = arr(xp, rng.standard_normal((3, 4)), dtype)
    x = arr(xp, rng.standard_normal((3, 4)), dtype)

    def f_one(v):
        return xp.sum(xp.exp(a * v) * v)

    def f_stack(vs):
        return xp.sum(xp.exp(a * vs) * vs, axis=(1, 2))

    loop = host(numerical_gradient(f_one, x))
    # float32: f's rounding (~1e-7 |f|) divided by 2h makes central differences noisy
    # and summation order (which differs between the paths) shows at that level
    tol = 1e-12 * max(1, np.abs(loop).max()) if dtype == "float64" else 1e-7 * abs(float(f_one(x))) / 2e-4 * 4
    for k in (1, 5, 12, "auto"):
        batched = host(numerical_gradient(f_stack, x, batch=k))
        np.testing.assert_allclose(batched, loop, rtol=0, atol=tol)
    with pytest.raises(ValueError, match="batch must be"):
        numerical_gradient(f_stack, x, batch=0)


def test_gradient_descent_book_cases(xp):
    init = arr(xp, [-3.0, 4.0])
    x = host(gradient_descent(function_2, init, lr=0.1, step_num=100))
    np.testing.assert_allclose(x, [-6.11110793e-10, 8.14814391e-10], rtol=1e-6)
    assert np.abs(x).max() < 1e-8
    big = host(gradient_descent(function_2, init, lr=10.0, step_num=100))
    assert np.abs(big).max() > 1e10  # blows up (the book prints -2.58983747e+13, -1.29524862e+12)
    np.testing.assert_allclose(big, [-2.58983747e13, -1.29524862e12], rtol=1e-6)
    tiny = host(gradient_descent(function_2, init, lr=1e-10, step_num=100))
    np.testing.assert_allclose(tiny, [-3.0, 4.0], atol=1e-6)
    assert not np.array_equal(tiny, [-3.0, 4.0])  # it moved, barely
    assert np.array_equal(host(init), [-3.0, 4.0])  # input untouched


def test_gradient_descent_history(xp):
    x, hist = gradient_descent(function_2, arr(xp, [-3.0, 4.0]), lr=0.1, step_num=20, return_history=True)
    hist = host(hist)
    assert hist.shape == (20, 2)
    np.testing.assert_allclose(hist[0], [-3.0, 4.0])
    np.testing.assert_allclose(hist[1], [-3.0 * 0.8, 4.0 * 0.8], rtol=1e-8)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # exp overflows on purpose
def test_gradient_descent_reports_nonfinite(xp):
    with pytest.raises(NonFiniteError, match="step"):
        gradient_descent(lambda v: xp.sum(xp.exp(v**2)), arr(xp, [3.0, 4.0]), lr=10.0, step_num=50)


@pytest.mark.parametrize("lr", [0, -1, float("nan"), "0.1"])
def test_gradient_descent_bad_lr(lr):
    with pytest.raises(ValueError, match="lr must be a positive number"):
        gradient_descent(function_2, np.array([1.0, 2.0]), lr=lr)
