import json
import os
import subprocess
import sys

import numpy as np
import pytest

import xpnet
from xpnet import TwoLayerNet
from xpnet.train import fit

from conftest import host

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "examples", "train.py")


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
    h = fit(net, x[:200, ...], t[:200], x[200:, ...], t[200:], iters=300, batch_size=20, lr=0.5, seed=1,
            progress=False, callbacks=[lambda r, hist: seen.append(r["iteration"])])
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


def _overflowed(net):
    """A net whose weights overflowed: the stable sigmoid and softmax keep any finite
    learning rate from producing NaN on their own, so the test plants the infinity."""
    net.params["W2"][0, 0] = float("inf")
    net.params["W2"][0, 1] = -float("inf")
    return net


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf - inf in the planted net
def test_fit_stops_on_nonfinite_loss():
    x, t = _data("numpy")
    net = _overflowed(TwoLayerNet(16, 10, 4, seed=0))
    h = fit(net, x, t, iters=2000, batch_size=20, lr=0.1, seed=0, progress=False)
    assert h.nonfinite_iteration == 1 and h.stopped.startswith("the loss became nan at iteration 1")
    assert len(h.loss) == h.nonfinite_iteration
    assert "--lr" in h.stopped


def test_fit_rejects_nonfinite_data():
    x, t = _data("numpy")
    x[3, 2] = float("nan")
    with pytest.raises(ValueError, match="x_train holds NaN or infinite values"):
        fit(TwoLayerNet(16, 10, 4), x, t, progress=False)


@pytest.mark.parametrize("kwargs,pattern", [
    ({"iters": 0}, "iters must be a positive int"),
    ({"batch_size": -1}, "batch_size must be a positive int"),
    ({"batch_size": 1000}, r"batch_size \(1000\) is larger than the training set \(300 rows\)"),
    ({"lr": 0.0}, "lr must be a positive number"),
    ({"lr": float("nan")}, "lr must be a positive number"),
    ({"grad": "magic"}, "grad must be one of backprop, numerical"),
])
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

def run_cli(*args, env=None, cwd=None):
    e = dict(os.environ)
    e.pop("XPNET_BACKEND", None)
    e["MPLBACKEND"] = "Agg"
    e.update(env or {})
    return subprocess.run([sys.executable, TRAIN, *args], capture_output=True, text=True, env=e, cwd=cwd,
                          timeout=600)


def _check_run(run, out, iters):
    assert run.returncode == 0, run.stderr[-2000:]
    assert "backend numpy" in run.stdout and "float64" in run.stdout
    epoch_lines = [l for l in run.stdout.splitlines() if l.startswith("epoch ")]
    assert epoch_lines and "train acc" in epoch_lines[0] and "test acc" in epoch_lines[0]
    assert "it/s" in run.stdout and "final train acc" in run.stdout
    for name in ("loss.png", "accuracy.png", "metrics.json", "metrics.csv", "params.npz"):
        assert (out / name).stat().st_size > 0, name
        assert (out / name).read_bytes()[:4] != b"" 
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["loss"]) == iters
    net = TwoLayerNet.load(out / "params.npz", backend="array_api_strict")
    assert xpnet.backend.backend_of(net.xp) == "array_api_strict"
    assert [p for p in os.listdir(out) if p.startswith(".")] == []  # no temporary files left
    return metrics, net


def test_cli_real_digits(shared_mnist, tmp_path):
    """500 iterations on MNIST's real test digits (8,000 train / 2,000 held out)."""
    out = tmp_path / "run"
    run = run_cli("--dataset", "mnist-t10k", "--data-dir", str(shared_mnist.parent / "mnist"),
                  "--iters", "500", "--out", str(out), "--no-progress")
    metrics, net = _check_run(run, out, 500)
    assert "mnist-t10k: 8000 train / 2000 test" in run.stdout
    assert metrics["epochs"][-1]["test_acc"] > 0.6  # from chance (0.1)


def test_cli_offline_default(tmp_path):
    out = tmp_path / "run"
    run = run_cli("--iters", "200", "--out", str(out), "--no-progress",
                  env={"XPNET_DATA_DIR": str(tmp_path / "empty"), "XPNET_MNIST_MIRROR": "http://127.0.0.1:9/"})
    metrics, _ = _check_run(run, out, 200)
    notices = [l for l in run.stderr.splitlines() if l.startswith("notice:")]
    assert len(notices) == 1 and "8x8 digits" in notices[0] and "python -m xpnet.datasets mnist" in notices[0]
    assert "data: digits: 1437 train / 360 test" in run.stdout


def test_cli_progress_bar_and_numerical(tmp_path):
    out = tmp_path / "run"
    run = run_cli("--dataset", "digits", "--iters", "5", "--grad", "numerical", "--batch-size", "20",
                  "--hidden", "8", "--out", str(out), "--no-plots")
    assert run.returncode == 0, run.stderr
    assert "numerical gradient: 610 parameters" in run.stdout and "ms per gradient" in run.stdout
    assert "grad/s" in run.stderr or "s/grad" in run.stderr  # the progress bar's rate
    assert not (out / "loss.png").exists() and (out / "params.npz").exists()


@pytest.mark.parametrize("args,pattern", [
    (["--batch-size", "0"], "--batch-size: must be a positive whole number"),
    (["--iters", "-5"], "--iters: must be a positive whole number"),
    (["--lr", "abc"], "--lr: must be a positive number"),
    (["--lr", "-0.1"], "--lr: must be a positive number"),
    (["--dtype", "float16"], "--dtype: invalid choice"),
    (["--dataset", "cifar"], "--dataset: invalid choice"),
    (["--backend", "jax"], "--backend: invalid choice"),
    (["--batch-size", "5000"], "--batch-size 5000 is larger than the training set"),
    (["--out", "/proc/xpnet-cannot-write"], "--out '/proc/xpnet-cannot-write' cannot be written"),
])
def test_cli_bad_input(tmp_path, args, pattern):
    full = ["--dataset", "digits", "--iters", "5", "--no-progress"] + args
    if "--out" not in args:
        full += ["--out", str(tmp_path / "o")]
    run = run_cli(*full)
    assert run.returncode == 2, (run.returncode, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr
    import re
    assert re.search(pattern, lines[0]), lines[0]


def test_cli_creates_nothing_on_bad_input(tmp_path):
    out = tmp_path / "never" / "made"
    run = run_cli("--dataset", "digits", "--batch-size", "5000", "--out", str(out))
    assert run.returncode == 2 and not (tmp_path / "never").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run = run_cli("--dataset", "digits", "--out", str(blocker / "sub"))
    assert run.returncode == 2 and "is not a folder" in run.stderr


def test_cli_unknown_backend_env(tmp_path):
    run = run_cli("--dataset", "digits", "--iters", "5", "--out", str(tmp_path / "o"),
                  env={"XPNET_BACKEND": "tensorflow"})
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "train.py: error: unknown XPNET_BACKEND value 'tensorflow': valid backends are numpy, cupy, array_api_strict, torch"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_cli_nonfinite_loss_keeps_outputs(tmp_path, monkeypatch, capsys):
    from xpnet import cli
    real_init = TwoLayerNet.__init__

    def init(self, *a, **k):
        real_init(self, *a, **k)
        _overflowed(self)

    monkeypatch.setattr(TwoLayerNet, "__init__", init)
    out = tmp_path / "run"
    code = cli.main(["--dataset", "digits", "--iters", "3000", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "stopped: the loss became nan at iteration 1" in err and "try --lr" in err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["nonfinite_iteration"] == len(metrics["loss"])
    assert (out / "loss.png").exists()


def test_cli_ctrl_c_keeps_outputs(tmp_path):
    import signal
    import time
    out = tmp_path / "run"
    e = dict(os.environ, MPLBACKEND="Agg")
    e.pop("XPNET_BACKEND", None)
    proc = subprocess.Popen([sys.executable, TRAIN, "--dataset", "digits", "--iters", "2000000", "--out",
                             str(out), "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=e)
    deadline = time.time() + 120
    first = proc.stdout.readline()
    while time.time() < deadline:
        line = proc.stdout.readline()
        if line.startswith("epoch"):
            break
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert (out / "params.npz").exists() and (out / "metrics.json").exists()
    assert first.startswith("xpnet")
