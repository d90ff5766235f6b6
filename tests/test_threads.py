"""BLAS threads chosen by measuring the run's own step (NumPy): the faster kept, the choice looked at
again when the rate moves, the run untouched by the measurement, the count recorded."""

import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import xpnet
from conftest import host
from xpnet.backend.numpy import threads as measured
from xpnet.checkpoint import load
from xpnet.train import fit


def _blas_threads():
    return [i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"]


def _trial(seconds_at):
    """n steps that take ``seconds_at[threads]`` each, threads as OpenBLAS reports them."""

    def trial(n):
        time.sleep(n * seconds_at[_blas_threads()[0]])

    return trial


@pytest.mark.parametrize(("one", "two", "kept"), [(0.004, 0.001, 2), (0.001, 0.004, 1), (0.002, 0.002, 1)])
def test_the_faster_count_is_kept_and_one_thread_unless_more_gains(one, two, kept):
    before = _blas_threads()
    choice = measured.ThreadChoice(2)
    assert choice.measure(_trial({1: one, 2: two}), done=7) == kept
    assert choice.threads == kept and choice.changes == [[7, kept]]
    assert set(_blas_threads()) == {kept}  # set in the library itself
    choice.use(before[0])


def test_the_choice_is_measured_again_when_the_rate_moves(monkeypatch):
    cost = {"step": 0.002}  # steps of milliseconds: a sleep's jitter is far below the 30% that counts

    def step(params, data, idx, xp=None):
        time.sleep(cost["step"])
        return xp.asarray(0.0)

    xp = xpnet.get_namespace("numpy")
    choice = measured.ThreadChoice(2)
    measures = []
    monkeypatch.setattr(choice, "measure", lambda trial, done: measures.append(done) or 1)
    steps = measured.MeasuredSteps(step, {"W1": np.zeros(2)}, (), xp, choice)
    rows = np.zeros((30, 3), dtype=np.int64)
    for _ in range(3):
        assert steps.run(rows).shape == (30,)
    assert measures == [0]  # before the first step only, while the rate holds
    cost["step"] = 0.008  # another program took a core
    steps.run(rows)
    steps.run(rows)
    assert not steps.pending  # two slow chunks are not yet a change
    steps.run(rows)
    assert steps.pending
    steps.run(rows)
    assert measures == [0, 180]
    monkeypatch.setattr(measured, "RECHECK_SECONDS", 0.0)
    steps.run(rows)
    steps.run(rows)
    assert measures == [0, 180, 240]  # looked at again after RECHECK_SECONDS, drift or not


def _mnist():
    from xpnet.datasets import load_mnist_t10k

    (x, t), _ = load_mnist_t10k(dtype="float64", backend="numpy")
    return x[:3000], t[:3000]


def test_fit_measures_records_and_leaves_the_run_as_the_chosen_count_would():
    x, t = _mnist()
    before = _blas_threads()
    net = xpnet.TwoLayerNet(784, 50, 10, seed=0)
    h = fit(net, x, t, iters=300, batch_size=100, seed=1, progress=False)
    assert _blas_threads() == before  # the run scope gives the library back as it was
    chosen = h.config["blas_threads_measured"]
    assert chosen[0][0] == 0 and h.config["blas_threads"] == chosen[-1][1] in (1, measured_cores())
    if len(chosen) == 1:  # no second look: the run is the one the chosen count gives, to the bit
        again = xpnet.TwoLayerNet(784, 50, 10, seed=0)
        h2 = fit(again, x, t, iters=300, batch_size=100, seed=1, progress=False, blas_threads=chosen[0][1])
        assert h2.loss == h.loss and "blas_threads_measured" not in h2.config
        for k in net.params:
            np.testing.assert_array_equal(net.params[k], again.params[k])


def measured_cores():
    from xpnet.backend.numpy import _cores

    return _cores()


def test_a_fixed_count_is_not_measured_and_reproduces_to_the_bit(monkeypatch):
    x, t = _mnist()
    runs = []
    for threads in (None, 2, 2):
        if threads is None:
            monkeypatch.setenv("XPNET_BLAS_THREADS", "1")
        else:
            monkeypatch.delenv("XPNET_BLAS_THREADS", raising=False)
        net = xpnet.TwoLayerNet(784, 50, 10, seed=0)
        h = fit(net, x, t, iters=150, batch_size=100, seed=4, progress=False, blas_threads=threads, evaluate=False)
        assert "blas_threads_measured" not in h.config and h.config["blas_threads"] == (threads or 1)
        runs.append(net.params)
    for k in runs[1]:
        np.testing.assert_array_equal(runs[1][k], runs[2][k])


def test_the_checkpoint_keeps_the_count_in_use(tmp_path):
    x, t = _mnist()
    ck = tmp_path / "ck.npz"
    h = fit(
        xpnet.TwoLayerNet(784, 50, 10, seed=0), x, t, iters=200, batch_size=100, seed=1, progress=False, checkpoint=ck
    )
    assert load(ck).run["plan"]["blas_threads"] == h.config["blas_threads"]


def test_a_measured_run_continues_at_the_count_its_checkpoint_kept(tmp_path):
    """Stopped at its second evaluation and continued: no second measurement, the count kept, and the
    parameters of an uninterrupted run at that count, to the bit."""
    x, t = _mnist()
    seen = []

    def stop(record, history):
        seen.append(record)
        if len(seen) == 2:
            raise KeyboardInterrupt

    ck = tmp_path / "ck.npz"
    run = dict(iters=200, batch_size=100, seed=3, progress=False, eval_every=60)
    h = fit(xpnet.TwoLayerNet(784, 50, 10, seed=0), x, t, **run, checkpoint=ck, callbacks=[stop])
    assert h.stopped and h.config["blas_threads_measured"]
    kept = load(ck).run["plan"]["blas_threads"]
    assert kept == h.config["blas_threads"]
    net, h2 = xpnet.resume(ck, x, t, progress=False)
    assert h2.iterations == 200 and h2.config["blas_threads"] == kept
    ref = xpnet.TwoLayerNet(784, 50, 10, seed=0)
    fit(ref, x, t, **run, blas_threads=kept)
    if len(h.config["blas_threads_measured"]) == 1:  # one count from the start: the same run, to the bit
        for k in ref.params:
            np.testing.assert_array_equal(host(net.params[k]), ref.params[k])
