"""Resume: a run stopped anywhere (Ctrl-C, SIGTERM, SIGKILL) continues from its checkpoint and ends
where the uninterrupted run ends, to the bit: the same parameters, losses and evaluations."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import xpnet
from conftest import JAX_SKIP, host
from xpnet import TwoLayerNet
from xpnet import checkpoint as checkpoints
from xpnet.train import fit, resume

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "examples", "train.py")
RUN = dict(iters=137, batch_size=20, seed=5, progress=False, blas_threads=1)  # bits depend on the count


def _data(backend="numpy", dtype="float64", n=600, d=784):
    rng = np.random.default_rng(0)
    a = lambda v: xpnet.asarray(v, backend=backend)  # noqa: E731
    x, t = rng.random((n, d)), rng.integers(0, 10, n)
    xt, tt = rng.random((100, d)), rng.integers(0, 10, 100)
    return a(x.astype(dtype)), a(t), a(xt.astype(dtype)), a(tt)


def _without_seconds(epochs):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in epochs]


def same_run(net, history, ref, ref_history):
    for k in ref.params:
        assert np.array_equal(host(net.params[k]), host(ref.params[k])), k
    assert history.loss == ref_history.loss and history.iterations == ref_history.iterations
    assert _without_seconds(history.epochs) == _without_seconds(ref_history.epochs)
    assert history.stopped is None


def _stop_at_evaluation(k):
    seen = []

    def cb(record, history):
        seen.append(record["iteration"])
        if len(seen) == k:
            raise KeyboardInterrupt

    return cb


def test_a_stopped_run_resumes_to_the_bit(backend, dtype, tmp_path):
    x, t, xt, tt = _data(backend, dtype)
    ref = TwoLayerNet(784, 50, 10, seed=1, dtype=dtype)
    h_ref = fit(ref, x, t, xt, tt, **RUN)
    net, ck = TwoLayerNet(784, 50, 10, seed=1, dtype=dtype), tmp_path / "ck.npz"
    h = fit(net, x, t, xt, tt, **RUN, checkpoint=ck, callbacks=[_stop_at_evaluation(2)])
    assert h.stopped.startswith("interrupted (Ctrl-C)") and h.iterations < RUN["iters"]
    net2, h2 = resume(ck, x, t, xt, tt, progress=False)
    assert xpnet.backend.backend_of(net2.params["W1"]).name == backend and net2.dtype == dtype
    same_run(net2, h2, ref, h_ref)
    net3, h3 = resume(ck, x, t, xt, tt, progress=False)  # a finished run comes back as it was
    same_run(net3, h3, ref, h_ref)


def test_ctrl_c_in_the_middle_of_a_chunk_then_resume(monkeypatch, tmp_path):
    """The interrupted chunk is rolled back, the checkpoint written at the update kept (between
    evaluation points), and the continued run draws the same mini-batches from there."""
    from xpnet import runloop

    x, t, xt, tt = _data()
    ref = TwoLayerNet(784, 30, 10, seed=0)
    h_ref = fit(ref, x, t, xt, tt, iters=700, batch_size=50, seed=2, progress=False, eval_every=300, blas_threads=1)
    real_run, calls = runloop.Steps.run, {"n": 0}

    def run(self, idx_rows):
        calls["n"] += 1
        if calls["n"] == 4:
            for i in range(40):
                self.step(idx_rows[i, ...])
            raise KeyboardInterrupt
        return real_run(self, idx_rows)

    monkeypatch.setattr(runloop.Steps, "run", run)
    net, ck = TwoLayerNet(784, 30, 10, seed=0), tmp_path / "ck.npz"
    h = fit(
        net,
        x,
        t,
        xt,
        tt,
        iters=700,
        batch_size=50,
        seed=2,
        progress=False,
        eval_every=300,
        checkpoint=ck,
        blas_threads=1,
    )
    assert h.iterations == 201 and h.stopped.startswith("interrupted")  # chunks 1, 100, 100; the 4th dropped
    monkeypatch.setattr(runloop.Steps, "run", real_run)
    net2, h2 = resume(ck, x, t, xt, tt, progress=False)
    same_run(net2, h2, ref, h_ref)


def test_numerical_gradient_runs_resume_too(tmp_path):
    x, t, _, _ = _data(n=60, d=12)
    opts = dict(iters=9, batch_size=5, seed=3, progress=False, grad="numerical", eval_every=4)
    ref = TwoLayerNet(12, 4, 10, seed=0)
    h_ref = fit(ref, x, t, **opts)
    net, ck = TwoLayerNet(12, 4, 10, seed=0), tmp_path / "ck.npz"
    fit(net, x, t, **opts, checkpoint=ck, callbacks=[_stop_at_evaluation(1)])
    same_run(*resume(ck, x, t, progress=False), ref, h_ref)


def test_the_checkpoint_is_written_at_each_evaluation(tmp_path):
    """What a kill at evaluation k leaves: the checkpoint of evaluation k - 1, whole."""
    x, t, _, _ = _data()
    ck, seen = tmp_path / "ck.npz", []

    def look(record, history):
        seen.append(checkpoints.load(ck).history.iterations if ck.exists() else None)

    fit(TwoLayerNet(784, 20, 10, seed=0), x, t, iters=100, batch_size=20, seed=1, progress=False, callbacks=[look])
    assert seen and set(seen) == {None}  # no checkpoint asked for, none written
    seen.clear()
    h = fit(TwoLayerNet(784, 20, 10, seed=0), x, t, **{**RUN, "iters": 100}, checkpoint=ck, callbacks=[look])
    points = [r["iteration"] for r in h.epochs]
    assert seen == [None, *points[:-1]] and checkpoints.load(ck).history.iterations == 100
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]  # no temporary file left


def test_resume_refuses_what_it_cannot_continue(tmp_path):
    x, t, xt, tt = _data()
    ck = tmp_path / "ck.npz"
    fit(TwoLayerNet(784, 20, 10, seed=0), x, t, xt, tt, **RUN, checkpoint=ck, callbacks=[_stop_at_evaluation(1)])
    with pytest.raises(ValueError, match="not the data the run in .* was trained on"):
        resume(ck, x[::-1, ...], t, xt, tt)
    with pytest.raises(ValueError, match="was evaluated on a test set: pass x_test, t_test"):
        resume(ck, x, t)
    with pytest.raises(ValueError, match="used other test data"):
        resume(ck, x, t, xt[:50, ...], tt[:50])
    TwoLayerNet(784, 20, 10).save(tmp_path / "params.npz")
    with pytest.raises(ValueError, match="params.npz: not a TwoLayerNet file written by fit"):
        resume(tmp_path / "params.npz", x, t)
    with pytest.raises(ValueError, match="not a TwoLayerNet parameter file"):
        TwoLayerNet.load(ck)  # and the other way round
    with pytest.raises(TypeError, match="checkpoint must be the path"):
        resume(None, x, t)
    with pytest.raises(ValueError, match="checkpoint needs a seed"):
        fit(TwoLayerNet(784, 20, 10), x, t, iters=5, progress=False, checkpoint=tmp_path / "c2.npz")
    with pytest.raises(ValueError, match="does not exist; make it first"):
        fit(TwoLayerNet(784, 20, 10), x, t, iters=5, seed=0, progress=False, checkpoint=tmp_path / "no" / "c.npz")
    with pytest.raises(TypeError, match="checkpoint must be a file path"):
        fit(TwoLayerNet(784, 20, 10), x, t, iters=5, seed=0, progress=False, checkpoint=3)


def test_a_run_stopped_by_its_loss_is_not_continued(tmp_path):
    x, t, _, _ = _data()
    ck = tmp_path / "ck.npz"
    h = fit(
        TwoLayerNet(784, 20, 10, seed=0), x, t, iters=300, batch_size=20, lr=1e6, seed=0, progress=False, checkpoint=ck
    )
    assert h.nonfinite_iteration is not None
    with pytest.raises(ValueError, match="the run stopped because .*; start a new run instead"):
        resume(ck, x, t)


# ------------------------------------------------------------------ the command line, real processes


def _env():
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("XPNET_BACKEND", None)
    return env


def _train(*args, timeout=300):
    return subprocess.run([sys.executable, TRAIN, *args], capture_output=True, text=True, env=_env(), timeout=timeout)


OPTIONS = ["--dataset", "mnist-t10k", "--iters", "1500", "--hidden", "20", "--eval-every", "200", "--no-progress"]
OPTIONS += ["--blas-threads", "1"]  # the whole run and the continued one at one count (bits depend on it)


def _same_files(a, b):
    pa, pb = np.load(a / "params.npz"), np.load(b / "params.npz")
    for k in ("W1", "b1", "W2", "b2"):
        assert np.array_equal(pa[k], pb[k]), k
    ma, mb = json.loads((a / "metrics.json").read_text()), json.loads((b / "metrics.json").read_text())
    assert ma["loss"] == mb["loss"] and _without_seconds(ma["epochs"]) == _without_seconds(mb["epochs"])
    assert mb["iterations"] == 1500 and mb["stopped"] is None


def _started(out, *extra, epochs):
    """``train.py`` writing to ``out``, once it has printed ``epochs`` epoch lines."""
    proc = subprocess.Popen(
        [sys.executable, TRAIN, *OPTIONS, *extra, "--out", str(out), "--no-plots"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    seen, deadline = 0, time.time() + 120
    while seen < epochs and time.time() < deadline:
        seen += proc.stdout.readline().startswith("epoch")
    return proc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_xpnet_train_resume_after_a_signal_ends_as_the_whole_run(tmp_path, sig):
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert _train(*OPTIONS, "--out", str(whole), "--no-plots").returncode == 0
    proc = _started(part, epochs=3)
    time.sleep(0.02)  # between evaluation points
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == (143 if sig == signal.SIGTERM else -signal.SIGKILL), stderr
    assert (part / "checkpoint.npz").exists()
    run = _train("--resume", str(part), "--no-progress")
    assert run.returncode == 0, run.stderr
    assert f"resuming {part}: " in run.stdout and "  iter   1001  loss" in run.stdout
    _same_files(whole, part)
    assert (part / "loss.png").exists() and not [p for p in os.listdir(part) if p.startswith(".")]
    again = _train("--resume", str(part), "--no-progress", "--no-plots")  # finished: files written again
    assert again.returncode == 0 and "the run had finished (1500 iterations)" in again.stdout
    _same_files(whole, part)


def test_xpnet_train_resume_refuses_in_one_line(tmp_path):
    run = _train(*OPTIONS, "--iters", "300", "--out", str(tmp_path / "r"), "--no-plots")
    assert run.returncode == 0
    cases = [
        (["--resume", str(tmp_path / "r"), "--lr", "0.5"], "--resume continues a run with its own options; drop --lr"),
        (["--resume", str(tmp_path / "r"), "--out", "x"], "drop --out"),
        (["--resume", str(tmp_path / "none")], "is not a folder; give the run folder xpnet train wrote"),
        (["--resume", str(tmp_path)], "holds no checkpoint.npz (xpnet train writes one at each evaluation)"),
    ]
    for args, message in cases:
        bad = _train(*args)
        assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines
    (tmp_path / "r" / "checkpoint.npz").write_bytes(b"not a zip")
    bad = _train("--resume", str(tmp_path / "r"))
    assert bad.returncode == 2 and "checkpoint.npz: not a TwoLayerNet file written by fit" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------ sweeps


def _stop_sweep_at_evaluation(monkeypatch, k):
    from xpnet.sweep import stacked

    real, seen = stacked.RunLoop.evaluate, []

    def evaluate(self, point, per_epoch):
        real(self, point, per_epoch)
        seen.append(point)
        if len(seen) == k:
            raise KeyboardInterrupt

    monkeypatch.setattr(stacked.RunLoop, "evaluate", evaluate)
    return lambda: monkeypatch.setattr(stacked.RunLoop, "evaluate", real)


SWEEP = dict(iters=137, batch_size=20, seed=[5, 6, 7], lr=[0.1, 1.0, 30.0], progress=False)


@pytest.mark.parametrize(
    "backend", ["numpy", pytest.param("jax", marks=pytest.mark.skipif(JAX_SKIP is not None, reason=f"jax: {JAX_SKIP}"))]
)
def test_a_stopped_sweep_resumes_to_the_bit(backend, tmp_path, monkeypatch):
    """Two members stopped by Ctrl-C, one stopped early by its diverging loss (kept as it was)."""
    x, t, xt, tt = _data(backend)
    with xpnet.use_backend(backend):
        ref = [TwoLayerNet(784, 50, 10, seed=1) for _ in range(3)]
        h_ref = xpnet.fit_many(ref, x, t, xt, tt, **SWEEP)
        nets, cks = [TwoLayerNet(784, 50, 10, seed=1) for _ in range(3)], [tmp_path / f"m{i}.npz" for i in range(3)]
        undo = _stop_sweep_at_evaluation(monkeypatch, 2)
        h = xpnet.fit_many(nets, x, t, xt, tt, **SWEEP, checkpoints=cks)
        undo()
        assert [m.iterations for m in h] == [31, 31, 1] and h[2].nonfinite_iteration == 2
        nets2, h2 = xpnet.resume_many(cks, x, t, xt, tt, progress=False)
        net1, h1 = resume(cks[1], x, t, xt, tt, progress=False)  # one member's checkpoint is fit's own
    for net, hist, r, hr in zip(nets2, h2, ref, h_ref):
        for k in r.params:
            assert np.array_equal(host(net.params[k]), host(r.params[k])), k
        assert np.array_equal(hist.loss, hr.loss, equal_nan=True) and hist.stopped == hr.stopped
        assert _without_seconds(hist.epochs) == _without_seconds(hr.epochs)
    assert np.array_equal(host(net1.params["W1"]), host(ref[1].params["W1"])) and h1.loss == h_ref[1].loss


def test_members_stopped_at_different_updates_continue_in_groups(tmp_path, monkeypatch):
    """A kill between two members' checkpoint writes leaves them at different evaluations."""
    x, t, xt, tt = _data()
    opts = {**SWEEP, "lr": [0.1, 1.0], "seed": [5, 6]}
    ref = [TwoLayerNet(784, 50, 10, seed=1) for _ in range(2)]
    h_ref = xpnet.fit_many(ref, x, t, xt, tt, **opts)
    early, late = [tmp_path / f"e{i}.npz" for i in range(2)], [tmp_path / f"l{i}.npz" for i in range(2)]
    for paths, k in ((early, 1), (late, 3)):
        undo = _stop_sweep_at_evaluation(monkeypatch, k)
        xpnet.fit_many([TwoLayerNet(784, 50, 10, seed=1) for _ in range(2)], x, t, xt, tt, **opts, checkpoints=paths)
        undo()
    mixed = [late[0], early[1]]
    assert [checkpoints.load(p).history.iterations for p in mixed] == [61, 1]
    nets, hs = xpnet.resume_many(mixed, x, t, xt, tt, progress=False)
    for net, h, r, hr in zip(nets, hs, ref, h_ref):
        assert np.array_equal(net.params["W2"], r.params["W2"]) and h.loss == hr.loss


def test_sweep_checkpoints_are_checked_where_they_enter(tmp_path):
    x, t, _, _ = _data()
    nets = [TwoLayerNet(784, 20, 10) for _ in range(2)]
    opts = dict(iters=5, batch_size=20, progress=False, lr=[0.1, 1.0])
    with pytest.raises(ValueError, match=r"one file path per net \(2\), got 1"):
        xpnet.fit_many(nets, x, t, **opts, seed=[0, 1], checkpoints=[tmp_path / "a.npz"])
    with pytest.raises(ValueError, match="names one file twice"):
        xpnet.fit_many(nets, x, t, **opts, seed=[0, 1], checkpoints=[tmp_path / "a.npz"] * 2)
    with pytest.raises(ValueError, match="need a seed per net"):
        xpnet.fit_many(nets, x, t, **opts, checkpoints=[tmp_path / "a.npz", tmp_path / "b.npz"])
    with pytest.raises(TypeError, match="a list of file paths, one per net"):
        xpnet.fit_many(nets, x, t, **opts, seed=[0, 1], checkpoints=str(tmp_path / "a.npz"))
    assert not list(tmp_path.iterdir())  # refused before anything was written


def _sweep_cli(out, *extra):
    args = ["sweep", "--dataset", "mnist-t10k", "--iters", "1500", "--hidden", "20", "--lr", "0.1", "1", "30"]
    return [sys.executable, "-m", "xpnet", *args, "--seeds", "2", "--eval-every", "200", "--out", str(out), *extra]


def test_xpnet_sweep_resume_after_sigkill_ends_as_the_whole_sweep(tmp_path):
    whole, part = tmp_path / "whole", tmp_path / "part"
    run = subprocess.run(_sweep_cli(whole, "--no-plots", "--no-progress"), capture_output=True, text=True, env=_env())
    assert run.returncode == 0, run.stderr
    proc = subprocess.Popen(_sweep_cli(part, "--no-plots", "--no-progress"), env=_env(), stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not all(
        (part / d / "checkpoint.npz").exists() and checkpoints.load(part / d / "checkpoint.npz").history.iterations > 1
        for d in ("lr0.1-seed0", "lr1-seed1")
    ):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    run = subprocess.run(
        [sys.executable, "-m", "xpnet", "sweep", "--resume", str(part), "--no-progress"],
        capture_output=True,
        text=True,
        env=_env(),
    )
    assert run.returncode == 0, run.stderr
    assert f"resuming {part}: " in run.stdout and "summary.json" in run.stdout
    members = sorted(d.name for d in whole.iterdir() if d.name.startswith("lr"))
    assert len(members) == 6
    for name in members:
        pa, pb = np.load(whole / name / "params.npz"), np.load(part / name / "params.npz")
        assert all(np.array_equal(pa[k], pb[k]) for k in ("W1", "b1", "W2", "b2")), name
        ma, mb = (json.loads((d / name / "metrics.json").read_text()) for d in (whole, part))
        assert ma["loss"] == mb["loss"] and _without_seconds(ma["epochs"]) == _without_seconds(mb["epochs"]), name
    summary = json.loads((part / "summary.json").read_text())
    assert [m["iterations"] for m in summary["members"]] == [
        m["iterations"] for m in json.loads((whole / "summary.json").read_text())["members"]
    ]


def test_xpnet_sweep_resume_refuses_in_one_line(tmp_path):
    args = "sweep --dataset mnist-t10k --iters 30 --lr 0.1 --seeds 1 --no-plots --no-progress --out".split()
    run = subprocess.run(
        [sys.executable, "-m", "xpnet", *args, str(tmp_path / "s")], capture_output=True, text=True, env=_env()
    )
    assert run.returncode == 0, run.stderr
    cases = [
        (["--resume", str(tmp_path / "s"), "--lr", "0.5"], "drop --lr"),
        (["--resume", str(tmp_path / "s"), "--workers", "2"], "drop --workers"),
        (["--resume", str(tmp_path / "s"), "--seeds", "4"], "drop --seeds"),
        (["--resume", str(tmp_path)], "holds no member folder with a checkpoint.npz"),
    ]
    for args, message in cases:
        bad = subprocess.run(
            [sys.executable, "-m", "xpnet", "sweep", *args], capture_output=True, text=True, env=_env()
        )
        lines = bad.stderr.strip().splitlines()
        assert bad.returncode == 2 and len(lines) == 1 and message in lines[0], lines


# ------------------------------------------------------------------ a checkpoint that cannot be written


def test_a_checkpoint_that_cannot_be_written_is_said_once_and_the_run_goes_on(tmp_path):
    x, t, xt, tt = _data()
    ref = TwoLayerNet(784, 20, 10, seed=0)
    h_ref = fit(ref, x, t, xt, tt, **RUN)
    (tmp_path / "ck.npz").mkdir()  # every rename onto it fails, as on a full disk
    net = TwoLayerNet(784, 20, 10, seed=0)
    with pytest.warns(
        checkpoints.CheckpointWarning, match=r"ck.npz could not be written \(.*\); the run goes on"
    ) as got:
        h = fit(net, x, t, xt, tt, **RUN, checkpoint=tmp_path / "ck.npz")
    assert len(got) == 1 and h.stopped is None and h.loss == h_ref.loss  # said once; the run is the same
    assert np.array_equal(net.params["W1"], ref.params["W1"])
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]  # no temporary file left


def test_xpnet_train_says_in_one_line_that_its_checkpoint_failed(tmp_path):
    out = tmp_path / "run"
    proc = _started(out, "--iters", "3000", epochs=2)
    while True:  # the checkpoint's name taken by a folder: the next writes fail
        try:
            os.unlink(out / "checkpoint.npz")
        except FileNotFoundError:
            pass
        try:
            os.mkdir(out / "checkpoint.npz")
            break
        except FileExistsError:
            continue
    _, stderr = proc.communicate(timeout=120)
    lines = stderr.strip().splitlines()
    assert proc.returncode == 0 and len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith("train.py: warning: the checkpoint ") and "could not be written" in lines[0]
    assert json.loads((out / "metrics.json").read_text())["iterations"] == 3000
