"""The step functions on their own, against the chapter's update written out by hand.

``sgd_step``, ``step_of_data``, ``numerical_step``, ``stacked_step`` and ``sgd_update`` on NumPy
(faster forms on and off) and on array_api_strict. The reference is the book's
``TwoLayerNet.gradient`` in plain NumPy, followed by ``params[key] -= lr * grads[key]``: a change
to the update in ``steps.py`` that is not written here too fails.
"""

from __future__ import annotations

import numpy as np
import pytest

from xpnet.backend import accelerated, to_numpy
from xpnet.steps import numerical_step, sgd_step, sgd_update, stacked_step, step_of_data

NAMES = ("W1", "b1", "W2", "b2")


def _xp(name):
    if name == "numpy":
        import array_api_compat.numpy as xp

        return xp
    return pytest.importorskip("array_api_strict", reason="array-api-strict is not installed (pip install '.[test]')")


def _book_step(p, x, t, lr):
    """The book's ch04 two_layer_net.gradient, then the update; returns (loss, new params).

    ``dy`` is the exact gradient of the book's loss with its 1e-7 inside the log (see
    ``nets.loss_and_gradient``); the book's ``(y - t) / n`` differs from it by about 1e-7."""
    a1 = x @ p["W1"] + p["b1"]
    z1 = 1 / (1 + np.exp(-a1))
    a2 = z1 @ p["W2"] + p["b2"]
    e = np.exp(a2 - a2.max(axis=1, keepdims=True))
    y = e / e.sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = -np.sum(t * np.log(y + 1e-7)) / n
    s = t * y / (y + 1e-7)
    dy = (y * s.sum(axis=1, keepdims=True) - s) / n
    da1 = (dy @ p["W2"].T) * (1 - z1) * z1
    grads = {"W2": z1.T @ dy, "b2": dy.sum(axis=0), "W1": x.T @ da1, "b1": da1.sum(axis=0)}
    return loss, {k: p[k] - lr * grads[k] for k in NAMES}


def _problem(seed=0, n=30, d=6, h=5, c=4):
    rng = np.random.default_rng(seed)
    params = {
        "W1": 0.3 * rng.standard_normal((d, h)),
        "b1": 0.1 * rng.standard_normal(h),
        "W2": 0.3 * rng.standard_normal((h, c)),
        "b2": 0.1 * rng.standard_normal(c),
    }
    x = rng.standard_normal((n, d))
    t = np.eye(c)[rng.integers(0, c, n)]
    idx = rng.integers(0, n, 8)
    return params, x, t, idx


def _on(xp, params, x, t, idx, dtype="float64"):
    dt = getattr(xp, dtype)
    return (
        {k: xp.asarray(v, dtype=dt) for k, v in params.items()},
        xp.asarray(x, dtype=dt),
        xp.asarray(t, dtype=dt),
        xp.asarray(idx),
    )


@pytest.mark.parametrize("fast", [True, False], ids=["faster-forms", "plain"])
@pytest.mark.parametrize("name", ["numpy", "array_api_strict"])
def test_sgd_step_is_the_books_gradient_then_the_update(name, fast):
    xp = _xp(name)
    params, x, t, idx = _problem()
    want_loss, want = _book_step(params, x[idx], t[idx], 0.1)
    p, xd, td, idd = _on(xp, params, x, t, idx)
    with accelerated(fast):
        loss = sgd_step(p, xd, td, idd, 0.1, xp=xp)
    assert float(loss) == pytest.approx(want_loss, rel=1e-13)
    for k in NAMES:
        np.testing.assert_allclose(to_numpy(p[k]), want[k], rtol=1e-12, atol=1e-14, err_msg=k)


@pytest.mark.parametrize("name", ["numpy", "array_api_strict"])
def test_step_of_data_is_sgd_step_with_the_rate_as_data(name):
    xp = _xp(name)
    params, x, t, idx = _problem(1)
    a, xd, td, idd = _on(xp, params, x, t, idx)
    b = {k: xp.asarray(v, copy=True) for k, v in a.items()}
    la = sgd_step(a, xd, td, idd, 0.05, xp=xp)
    lb = step_of_data(b, (xd, td, 0.05), idd)
    assert float(la) == float(lb)
    for k in NAMES:
        assert np.array_equal(to_numpy(a[k]), to_numpy(b[k])), k


@pytest.mark.parametrize("name", ["numpy", "array_api_strict"])
def test_numerical_step_takes_the_same_step_within_difference_error(name):
    xp = _xp(name)
    params, x, t, idx = _problem(2)
    want_loss, want = _book_step(params, x[idx], t[idx], 0.5)
    p, xd, td, idd = _on(xp, params, x, t, idx)
    loss = numerical_step(p, xd, td, idd, 0.5, xp=xp)
    assert float(loss) == pytest.approx(want_loss, rel=1e-12)
    for k in NAMES:
        np.testing.assert_allclose(to_numpy(p[k]), want[k], rtol=0, atol=1e-7, err_msg=k)


@pytest.mark.parametrize("name", ["numpy", "array_api_strict"])
def test_stacked_step_is_each_members_own_step_and_a_mask_holds_a_member(name):
    xp = _xp(name)
    members = [_problem(s)[0] for s in range(3)]
    _, x, t, _ = _problem()
    idx = np.random.default_rng(7).integers(0, x.shape[0], (3, 8))
    lrs, mask = np.array([0.1, 0.5, 2.0]), np.array([True, False, True])
    stacked = {k: xp.asarray(np.stack([m[k] for m in members])) for k in NAMES}
    data = (xp.asarray(x), xp.asarray(t), xp.asarray(lrs), xp.asarray(mask))
    losses = to_numpy(stacked_step(stacked, data, xp.asarray(idx), xp=xp))
    for i, m in enumerate(members):
        want_loss, want = _book_step(m, x[idx[i]], t[idx[i]], lrs[i])
        assert losses[i] == pytest.approx(want_loss, rel=1e-12)
        for k in NAMES:
            expect = want[k] if mask[i] else m[k]
            np.testing.assert_allclose(to_numpy(stacked[k])[i], expect, rtol=1e-12, atol=1e-14, err_msg=f"{i} {k}")


@pytest.mark.parametrize("name", ["numpy", "array_api_strict"])
def test_sgd_update_is_params_minus_rate_times_gradient(name):
    xp = _xp(name)
    params = {k: xp.asarray(np.full((2, 3), 1.0)) for k in NAMES}
    grads = {k: xp.asarray(np.full((2, 3), float(i + 1))) for i, k in enumerate(NAMES)}
    sgd_update(params, grads, 0.25, xp=xp)
    assert [float(to_numpy(params[k])[0, 0]) for k in NAMES] == [0.75, 0.5, 0.25, 0.0]


def test_float32_steps_stay_float32():
    import array_api_compat.numpy as xp

    params, x, t, idx = _problem(3)
    p, xd, td, idd = _on(xp, params, x, t, idx, "float32")
    loss = sgd_step(p, xd, td, idd, 0.1, xp=xp)
    assert loss.dtype == np.float32 and all(p[k].dtype == np.float32 for k in NAMES)
    want_loss, want = _book_step(params, x[idx], t[idx], 0.1)
    assert float(loss) == pytest.approx(want_loss, rel=1e-5)
