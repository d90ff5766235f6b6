"""How the run loop hands out steps: index rows on the host or the device, the finiteness check,
runs without evaluation in one stretch, and JAX's compiled loop (one program, any chunking)."""

import numpy as np
import pytest

import xpnet
from conftest import host
from xpnet import TwoLayerNet
from xpnet.random import Rng
from xpnet.runloop import finite
from xpnet.stepping import IndexStream, Steps
from xpnet.train import fit


def _data(backend, n=300, d=16, c=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    x = rng.standard_normal((c, d))[labels] * 2 + rng.standard_normal((n, d))
    return xpnet.asarray(x, backend=backend), xpnet.asarray(labels, backend=backend)


def test_index_rows_on_the_host_are_the_rows_on_the_device():
    xp = xpnet.get_namespace("numpy")
    a, b = (IndexStream(Rng(5), 100, 8, xp, None, block=30) for _ in range(2))
    for n in (1, 29, 45, 7):  # across block boundaries
        on_device, on_host = a.take(n), b.take(n, on_host=True)
        assert isinstance(on_host, np.ndarray) and on_host.shape == (n, 8)
        np.testing.assert_array_equal(host(on_device), on_host)


@pytest.mark.parametrize("stacked", [False, True])
def test_finite_answers_per_member(backend, stacked):
    xp = xpnet.get_namespace(backend)
    w = np.ones((3, 4, 2))
    w[1, 2, 0] = np.nan if stacked else np.inf
    arrays = [xpnet.asarray(w, backend=backend), xpnet.asarray(np.ones((3, 5)), backend=backend)]
    got = finite(xp, arrays, stacked=stacked)
    assert got.dtype == bool and got.tolist() == ([True, False, True] if stacked else [False])
    clean = [xpnet.asarray(np.ones((3, 4)), backend=backend)]
    assert finite(xp, clean, stacked=stacked).tolist() == ([True] * 3 if stacked else [True])


def test_a_run_without_evaluation_is_one_stretch(monkeypatch):
    """Without evaluation (and without checkpoints) nothing happens between the steps, so the chunks
    are the stepper's own, not cut at every eval_every."""
    sizes = []
    real = Steps.run
    monkeypatch.setattr(Steps, "run", lambda self, rows: sizes.append(rows.shape[0]) or real(self, rows))
    x, t = _data("numpy")
    fit(
        TwoLayerNet(16, 10, 4, seed=0),
        x,
        t,
        iters=250,
        batch_size=20,
        eval_every=30,
        seed=1,
        progress=False,
        evaluate=False,
    )
    assert sizes == [1, 100, 100, 49]
    sizes.clear()
    fit(TwoLayerNet(16, 10, 4, seed=0), x, t, iters=250, batch_size=20, eval_every=30, seed=1, progress=False)
    assert sizes[:3] == [1, 30, 30] and sum(sizes) == 250


def _jax():
    pytest.importorskip("jax", reason="JAX is not installed: pip install '.[jax]'")
    from xpnet.backend.jax import steppers

    return steppers


def test_jax_runs_every_step_through_one_compiled_program():
    """Parameters from TwoLayerNet and from the loop itself, odd chunks between evaluations, a second
    fit: one compilation of the loop (a second one would cost a fresh process 0.2 s)."""
    steppers = _jax()
    steppers._compiled.cache_clear()
    from xpnet.steps import step_of_data

    x, t = _data("jax")
    net = TwoLayerNet(16, 10, 4, seed=0, backend="jax")
    fit(net, x, t, iters=257, batch_size=20, eval_every=37, seed=3, progress=False)
    fit(net, x, t, iters=61, batch_size=20, seed=4, progress=False, evaluate=False)
    assert steppers._compiled(step_of_data)._cache_size() == 1


def test_jax_results_do_not_depend_on_how_the_run_is_cut():
    """Block lengths 7 and 1,000, chunks of any size: the same losses and parameters, to the bit."""
    steppers = _jax()
    from xpnet.steps import step_of_data

    x, labels = _data("jax")
    xp = xpnet.get_namespace("jax")
    t = xp.astype(labels[:, None] == xp.arange(4), x.dtype)
    rows = np.random.default_rng(0).integers(0, 300, (257, 20))
    results = []
    for k, cuts in ((7, (257,)), (None, (1, 100, 56, 100)), (None, (257,))):
        net = TwoLayerNet(16, 10, 4, seed=0, backend="jax")
        stepper = steppers.ScanStepper(step_of_data, net.params, (x, t, 0.1), k)
        starts = np.cumsum((0,) + cuts)
        losses = np.concatenate([stepper.run(rows[a:b]) for a, b in zip(starts[:-1], starts[1:])])
        assert losses.shape == (257,) and stepper.host_rows
        results.append((losses, {key: host(v) for key, v in net.params.items()}))
    for losses, params in results[1:]:
        np.testing.assert_array_equal(losses, results[0][0])
        for key in params:
            np.testing.assert_array_equal(params[key], results[0][1][key])


def test_jax_chunks_follow_the_measured_rate():
    steppers = _jax()
    from xpnet.steps import step_of_data

    x, labels = _data("jax")
    xp = xpnet.get_namespace("jax")
    t = xp.astype(labels[:, None] == xp.arange(4), x.dtype)
    net = TwoLayerNet(16, 10, 4, seed=0, backend="jax")
    stepper = steppers.ScanStepper(step_of_data, net.params, (x, t, 0.1))
    rows = np.random.default_rng(0).integers(0, 300, (100, 20))
    stepper.run(rows)
    assert stepper.chunk == 100  # the first run compiles: no rate from it
    stepper.run(rows)
    assert 100 < stepper.chunk <= stepper.k == 1000  # a tiny net: thousands of steps in a quarter second


def test_jax_gathers_the_batch_rows_take_gathers():
    _jax()
    from xpnet.steps import batch_rows

    xp = xpnet.get_namespace("jax")
    x = xpnet.asarray(np.random.default_rng(0).random((50, 3)), backend="jax")
    idx = xpnet.asarray(np.array([49, 0, 7, 7]), backend="jax")
    np.testing.assert_array_equal(host(batch_rows(xp, x, idx)), host(xp.take(x, idx, axis=0)))
