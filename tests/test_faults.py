"""Issue 11: one clear error or a kept, correct result for every bad input, fault and signal.

Real CLI processes get real signals; a full disk is simulated where writing fails (no tmpfs
here); the run's files are checked against each other after every stop."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import xpnet
from conftest import hostile_npy, replace_member
from xpnet import TwoLayerNet
from xpnet.train import fit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "examples", "train.py")


def _env(**extra):
    e = dict(os.environ, MPLBACKEND="Agg", **extra)
    e.pop("XPNET_BACKEND", None)
    return e


def cli(*args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, TRAIN, "--dataset", "mnist-t10k", *args],
        capture_output=True,
        text=True,
        env=_env(**(env or {})),
        timeout=timeout,
    )


def one_line(run, code):
    assert run.returncode == code, (run.returncode, run.stderr)
    assert "Traceback" not in run.stderr
    return run.stderr.strip().splitlines()


def consistent(out):
    """params.npz holds exactly the updates metrics.json records."""
    metrics = json.loads((out / "metrics.json").read_text())
    net = TwoLayerNet.load(out / "params.npz")
    from xpnet.datasets import load_mnist_t10k

    (x, t), _ = load_mnist_t10k(dtype="float64", backend="numpy")
    cfg = metrics["config"]
    again = TwoLayerNet(784, cfg["hidden"], 10, seed=cfg["seed"])
    if metrics["iterations"]:
        fit(
            again,
            x,
            t,
            iters=metrics["iterations"],
            batch_size=cfg["batch_size"],
            lr=cfg["lr"],
            seed=cfg["seed"],
            progress=False,
            evaluate=False,
            blas_threads=cfg["blas_threads"],  # the run's own count (the last bits depend on it)
        )
    for k in net.params:
        np.testing.assert_allclose(net.params[k], again.params[k], rtol=0, atol=0, err_msg=k)
    return metrics


# ------------------------------------------------------------------ the run's folder


def test_an_existing_out_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "run"
    assert cli("--iters", "20", "--out", str(out), "--no-progress").returncode == 0
    first = (out / "metrics.json").read_text()
    lines = one_line(cli("--iters", "30", "--out", str(out)), 2)
    assert lines == [
        f"train.py: error: --out {str(out)!r} already holds accuracy.png, checkpoint.npz, loss.png...; "
        "choose another folder, or add --overwrite"
    ]
    assert (out / "metrics.json").read_text() == first  # untouched
    run = cli("--iters", "30", "--out", str(out), "--overwrite", "--no-plots")
    assert run.returncode == 0, run.stderr
    assert sorted(os.listdir(out)) == ["checkpoint.npz", "metrics.csv", "metrics.json", "params.npz"]  # no stale plots
    assert json.loads((out / "metrics.json").read_text())["iterations"] == 30


def test_default_folders_are_unique_and_a_busy_folder_is_refused(tmp_path):
    from xpnet.cli import runs

    os.chdir(tmp_path)
    a, b = runs.own_out(None, False), runs.own_out(None, False)
    assert a != b and os.path.isdir(a) and os.path.isdir(b)
    runs.release_out(a)
    with pytest.raises(ValueError, match="is in use by another run"):
        runs.own_out(b, False)  # b's lock names this (live) process
    runs.release_out(b)
    (tmp_path / "stale").mkdir()
    (tmp_path / "stale" / runs.LOCK).write_text(str(os.getppid()))  # a dead run's lock; its pid now reused
    assert runs.own_out(str(tmp_path / "stale"), False) == str(tmp_path / "stale")
    runs.release_out(str(tmp_path / "stale"))


_HOLD = """
import sys, time
from xpnet.cli import runs
try:
    runs.own_out(sys.argv[1], False)
except ValueError as exc:
    print("refused", exc, flush=True)
    sys.exit(3)
print("won", flush=True)
time.sleep(float(sys.argv[2]))
runs.release_out(sys.argv[1])
"""


def test_of_two_runs_starting_at_once_on_a_folder_exactly_one_wins(tmp_path):
    import subprocess
    import sys

    folder = str(tmp_path / "shared")
    for _ in range(3):  # a race: tried a few times
        procs = [subprocess.Popen([sys.executable, "-c", _HOLD, folder, "1.5"], stdout=subprocess.PIPE, text=True)
                 for _ in range(2)]  # fmt: skip
        outs = [p.communicate(timeout=60)[0] for p in procs]
        assert sorted(o.split()[0] for o in outs) == ["refused", "won"], outs
        assert "in use by another run (process " in next(o for o in outs if o.startswith("refused"))
        assert not os.path.exists(os.path.join(folder, runs_lock()))  # released


def runs_lock():
    from xpnet.cli import runs

    return runs.LOCK


def test_a_run_killed_hard_leaves_its_folder_free_and_overwrite_clears_its_parts(tmp_path):
    import signal
    import subprocess
    import sys

    from xpnet.cli import runs

    folder = tmp_path / "killed"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(folder), "60"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "won"
    (folder / ".metrics.json.abc123.part").write_text("half")  # what a kill during a write leaves
    with pytest.raises(ValueError, match="in use by another run"):
        runs.own_out(str(folder), True)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert (folder / runs.LOCK).exists()  # the file stays; the kernel let the lock go
    assert runs.own_out(str(folder), True) == str(folder)
    assert sorted(os.listdir(folder)) == [runs.LOCK]  # the half-written file is gone
    runs.release_out(str(folder))
    assert os.listdir(folder) == []


# ------------------------------------------------------------------ stops keep a consistent run


def test_divergence_stops_and_keeps_the_last_good_parameters(tmp_path):
    out = tmp_path / "run"
    run = cli("--lr", "1e308", "--iters", "500", "--out", str(out), "--no-plots", "--no-progress")
    lines = one_line(run, 1)
    assert len(lines) == 1 and lines[0].startswith("train.py: stopped: the loss diverged at iteration 2")
    assert "try --lr 1e+307" in lines[0]
    metrics = consistent(out)
    assert metrics["iterations"] == 1 and metrics["nonfinite_iteration"] == 2 and len(metrics["loss"]) == 2


def test_numerical_gradient_stop_names_the_iteration(tmp_path):
    out = tmp_path / "run"
    run = cli(
        "--grad",
        "numerical",
        "--lr",
        "1e300",
        "--iters",
        "20",
        "--batch-size",
        "20",
        "--hidden",
        "8",
        "--out",
        str(out),
        "--no-plots",
        "--no-progress",
    )
    lines = one_line(run, 1)
    assert (
        lines[-1].startswith("train.py: stopped: the loss diverged at iteration") and "Kept the parameters" in lines[-1]
    )
    metrics = json.loads((out / "metrics.json").read_text())
    net = TwoLayerNet.load(out / "params.npz")  # finite, loadable
    assert metrics["iterations"] == metrics["nonfinite_iteration"] - 1 and net.hidden_size == 8


def test_nan_loss_keeps_the_parameters_before_it():
    from xpnet.datasets import load_mnist_t10k

    (x, t), _ = load_mnist_t10k(dtype="float64", backend="numpy")
    net = TwoLayerNet(784, 20, 10, seed=0)
    plain = TwoLayerNet(784, 20, 10, seed=0)
    fit(plain, x, t, iters=37, batch_size=50, seed=1, progress=False, evaluate=False, blas_threads=1)  # bits: one count
    # plant a NaN in the data the 38th step reads: fit checks x once, so change it in place afterwards
    h_probe = fit(TwoLayerNet(784, 20, 10, seed=0), x, t, iters=1, batch_size=50, seed=1, progress=False)
    assert h_probe.iterations == 1
    from xpnet.random import Rng

    idx = Rng(1).integers(8000, (38, 50), backend=False)
    x2 = np.array(x)
    victims = np.setdiff1d(idx[37], idx[:37].ravel())
    x2[victims[0], :] = np.nan
    from xpnet import train

    prepared = train.prepare_data
    train.prepare_data = lambda n, xx, tt, name: (xpnet.get_namespace("numpy"), x2, prepared(n, x, tt, name)[2])
    try:
        h = fit(net, x, t, iters=100, batch_size=50, seed=1, progress=False, blas_threads=1)
    finally:
        train.prepare_data = prepared
    assert h.nonfinite_iteration == 38 and h.iterations == 37 and len(h.loss) == 38 and np.isnan(h.loss[-1])
    for k in net.params:
        assert np.array_equal(net.params[k], plain.params[k])


def test_ctrl_c_in_the_middle_of_a_chunk_rolls_back(monkeypatch):
    from xpnet import runloop as steps
    from xpnet.datasets import load_mnist_t10k

    (x, t), _ = load_mnist_t10k(dtype="float64", backend="numpy")
    calls = {"n": 0}
    real_run = steps.Steps.run

    def run(self, idx_rows):
        calls["n"] += 1
        if calls["n"] == 3:
            for i in range(40):  # 40 updates of this chunk happen, then Ctrl-C
                self.step(idx_rows[i, ...])
            raise KeyboardInterrupt
        return real_run(self, idx_rows)

    monkeypatch.setattr(steps.Steps, "run", run)
    net = TwoLayerNet(784, 20, 10, seed=0)
    h = fit(net, x, t, iters=1000, batch_size=50, seed=2, progress=False, eval_every=1000, blas_threads=1)
    # chunks: 1 step (the evaluation after iteration 1), 100, then 40 of the third before Ctrl-C
    assert h.stopped == "interrupted (Ctrl-C) after 101 iterations" and h.iterations == 101 == len(h.loss)
    monkeypatch.setattr(steps.Steps, "run", real_run)
    again = TwoLayerNet(784, 20, 10, seed=0)
    fit(again, x, t, iters=101, batch_size=50, seed=2, progress=False, evaluate=False, blas_threads=1)
    for k in net.params:
        assert np.array_equal(net.params[k], again.params[k])


def test_ctrl_c_after_a_chunk_ran_but_before_it_was_recorded(monkeypatch):
    """The chunk is dropped whole: parameters rolled back, history rewound."""
    from xpnet import runloop
    from xpnet.datasets import load_mnist_t10k

    (x, t), _ = load_mnist_t10k(dtype="float64", backend="numpy")
    calls, real = {"n": 0}, runloop.first_bad

    def first_bad(losses):
        calls["n"] += 1
        if calls["n"] == 3:  # the third chunk's steps are done; Ctrl-C before they are recorded
            raise KeyboardInterrupt
        return real(losses)

    monkeypatch.setattr(runloop, "first_bad", first_bad)
    net = TwoLayerNet(784, 20, 10, seed=0)
    h = fit(net, x, t, iters=1000, batch_size=50, seed=2, progress=False, eval_every=1000, blas_threads=1)
    # chunks of 1 (the evaluation after iteration 1) and 100 kept, the third dropped
    assert h.stopped == "interrupted (Ctrl-C) after 101 iterations" and h.iterations == 101 == len(h.loss)
    monkeypatch.setattr(runloop, "first_bad", real)
    again = TwoLayerNet(784, 20, 10, seed=0)
    fit(again, x, t, iters=101, batch_size=50, seed=2, progress=False, evaluate=False, blas_threads=1)
    for k in net.params:
        assert np.array_equal(net.params[k], again.params[k])


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_signals_stop_cleanly_and_keep_a_consistent_run(tmp_path, sig, code):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            TRAIN,
            "--dataset",
            "mnist-t10k",
            "--iters",
            "2000000",
            "--hidden",
            "20",
            "--eval-every",
            "400",
            "--out",
            str(out),
            "--no-progress",
            "--blas-threads",
            "1",  # one count for the whole run, so that consistent() can replay it to the bit
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    deadline = time.time() + 120
    seen = 0
    while time.time() < deadline and seen < 2:
        if proc.stdout.readline().startswith("epoch"):
            seen += 1
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    name = {signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP", signal.SIGINT: "Ctrl-C"}[sig]
    assert f"stopped: interrupted ({name}) after" in stderr
    metrics = consistent(out)
    assert metrics["iterations"] >= 400 and len(metrics["loss"]) == metrics["iterations"]
    assert not [p for p in os.listdir(out) if p.startswith(".")]  # no lock, no temporary files


@pytest.mark.parametrize("delay", [0.0, 0.01, 0.05, 0.15, 0.4])
def test_a_second_signal_while_the_run_stops_and_writes_keeps_a_whole_folder(tmp_path, delay):
    """SIGTERM, then another while the run rolls back, writes its checkpoint, params, metrics and
    plots (``delay`` later): every file is written, whole, and they agree; no temporary file."""
    out = tmp_path / "run"
    args = ["--iters", "2000000", "--hidden", "20", "--eval-every", "400", "--out", str(out), "--no-progress"]
    args += ["--blas-threads", "1"]  # one count for the whole run (consistent() replays it to the bit)
    proc = subprocess.Popen(
        [sys.executable, TRAIN, "--dataset", "mnist-t10k", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    seen, deadline = 0, time.time() + 120
    while time.time() < deadline and seen < 2:
        seen += proc.stdout.readline().startswith("epoch")
    proc.send_signal(signal.SIGTERM)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    # both pending at once (the main thread inside BLAS): Python runs SIGINT's handler first
    assert proc.returncode in (143, 130) and "Traceback" not in stderr, stderr
    metrics = consistent(out)
    names = ["accuracy.png", "checkpoint.npz", "loss.png", "metrics.csv", "metrics.json", "params.npz"]
    assert sorted(os.listdir(out)) == names  # nothing half-written, no temporary file, no lock
    assert xpnet.checkpoint.load(out / "checkpoint.npz").history.iterations == metrics["iterations"]


# ------------------------------------------------------------------ faults while writing


def test_a_full_disk_keeps_the_parameters(tmp_path, monkeypatch, capsys):
    from xpnet import cli as C
    from xpnet.train import History

    def full(self, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(History, "save", full)
    out = tmp_path / "run"
    code = C.train_main(
        ["--dataset", "mnist-t10k", "--iters", "30", "--out", str(out), "--no-progress"], prog="train.py"
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err == [
        f"train.py: error: {out / 'metrics.json'} could not be written (No space left on device); "
        "the other files were kept"
    ]
    assert (out / "params.npz").exists() and (out / "metrics.csv").exists() and (out / "loss.png").exists()
    assert not (out / "metrics.json").exists() and not [p for p in os.listdir(out) if p.startswith(".")]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--seed", "-1"], "argument --seed: must be a whole number from 0 to 2**32 - 1, got '-1'"),
        (["--hidden", "100000000"], "this run needs about"),
        (
            ["--iters", "100000000", "--eval-every", "1"],
            "evaluates accuracy 100,000,000 times; use a larger --eval-every",
        ),
    ],
)
def test_sizes_refused_before_anything_is_allocated(tmp_path, args, message):
    lines = one_line(cli(*args, "--out", str(tmp_path / "o"), timeout=120), 2)
    assert len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "o").exists()


def test_library_errors_reach_the_user_as_one_line(tmp_path):
    lines = one_line(cli("--iters", "5", "--out", str(tmp_path / "o"), env={"XPNET_BLAS_THREADS": "many"}), 2)
    want = "train.py: error: XPNET_BLAS_THREADS must be a whole number of threads from 1 to 4096 in ASCII digits, got"
    assert lines == [f"{want} 'many'; unset it to let xpnet choose"]
    for bad in ("٣", "²", "0", "9" * 5000):  # Arabic-Indic 3 (int() reads it), superscript 2 (int() refuses it)
        lines = one_line(cli("--iters", "5", "--out", str(tmp_path / "o"), env={"XPNET_BLAS_THREADS": bad}), 2)
        assert len(lines) == 1 and lines[0].startswith(want), lines
    assert not os.path.exists(tmp_path / "o")  # refused before the run folder is made


# ------------------------------------------------------------------ the library


def test_library_edges():
    assert float(xpnet.sigmoid(np.float64(0.0))) == 0.5  # NumPy scalars are arrays too
    with pytest.raises(TypeError, match="float32 or float64"):
        xpnet.sigmoid(np.ones(2, np.float16))
    with pytest.raises(ValueError, match=r"labels from 0 to 5, but there are 3 classes"):
        xpnet.to_one_hot(np.array([0, 5]), 3)
    with pytest.raises(ValueError, match=r"labels from -1 to 0"):
        xpnet.to_one_hot(np.array([0, -1]), 3)
    for bad in (2.5, 0, -3):
        with pytest.raises(ValueError, match="num_classes must be a positive int"):
            xpnet.to_one_hot(np.array([0, 1]), bad)
    with pytest.raises(ValueError, match="the batch is empty"):
        xpnet.cross_entropy_error(np.zeros((0, 3)), np.zeros(0, dtype=np.int64))
    net = TwoLayerNet(4, 3, 2, seed=0)
    with pytest.raises(ValueError, match="the batch is empty"):
        net.accuracy(np.zeros((0, 4)), np.zeros(0, dtype=np.int64))
    np.testing.assert_array_equal(xpnet.softmax(np.array([np.inf, 0.0])), [1.0, 0.0])
    np.testing.assert_array_equal(xpnet.softmax(np.array([[np.inf, np.inf, -np.inf]])), [[0.5, 0.5, 0.0]])
    with pytest.raises(TypeError, match="f must return one number"):
        xpnet.numerical_gradient(lambda v: v * 2, np.array([1.0, 2.0]))


def _saved(tmp_path):
    path = tmp_path / "net.npz"
    TwoLayerNet(6, 4, 3, seed=0).save(path)
    return path


def _rewrite(path, **changes):
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["__meta__"]))
    for k, v in changes.items():
        if k == "meta":
            meta.update(v)
        else:
            arrays[k] = v
    arrays["__meta__"] = np.asarray(json.dumps(meta))
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    "damage,why",
    [
        ("empty", "not an .npz archive"),
        ("truncated", "not an .npz archive"),
        ("bitflip", "damaged"),
        ("npy", "not an .npz archive"),
        ("no meta field", "input_size must be a positive whole number, got None"),
        ("wrong type", "hidden_size must be a positive whole number, got '4'"),
        ("nan", "W1 holds NaN or infinite values"),
        ("inf", "b2 holds NaN or infinite values"),
        ("complex", "W2 is complex128, expected float32 or float64"),
        ("shape", "W1 has shape (5, 4), expected (6, 4)"),
        ("huge meta", "implausibly large"),
        ("bomb", "more than its shape allows"),
        ("huge header", "W1.npy is damaged: its header claims float64 of shape (1125899906842624,)"),
    ],
)
def test_load_rejects_anything_but_a_saved_net(tmp_path, damage, why):
    path = _saved(tmp_path)
    raw = path.read_bytes()
    if damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "bitflip":
        i = raw.index(b"W1.npy") + 200
        path.write_bytes(raw[:i] + bytes([raw[i] ^ 0xFF]) + raw[i + 1 :])
    elif damage == "npy":
        np.save(tmp_path / "p.npy", np.zeros(3))
        path = tmp_path / "p.npy"
    elif damage == "no meta field":
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays["__meta__"]))
        del meta["input_size"]
        arrays["__meta__"] = np.asarray(json.dumps(meta))
        np.savez(path, **arrays)
    elif damage == "wrong type":
        _rewrite(path, meta={"hidden_size": "4"})
    elif damage == "nan":
        w = np.zeros((6, 4))
        w[1, 1] = np.nan
        _rewrite(path, W1=w)
    elif damage == "inf":
        _rewrite(path, b2=np.array([0.0, np.inf, 0.0]))
    elif damage == "complex":
        _rewrite(path, W2=np.zeros((4, 3), dtype=complex))
    elif damage == "shape":
        _rewrite(path, W1=np.zeros((5, 4)))
    elif damage == "huge meta":
        _rewrite(path, meta={"input_size": 10**8, "hidden_size": 10**8})
    elif damage == "bomb":
        _rewrite(path, W1=np.zeros((6000, 4000)))  # compresses to little; the metadata says (6, 4)
    elif damage == "huge header":  # a header claiming 8 PiB: refused by name, never a MemoryError
        replace_member(path, "W1.npy", hostile_npy("<f8"))
    with pytest.raises(ValueError, match="not a TwoLayerNet parameter file written by TwoLayerNet.save") as info:
        TwoLayerNet.load(path)
    assert why in str(info.value)


@pytest.fixture
def tiny_disk(tmp_path):
    """A real file system of 450 KiB (tmpfs), where root may mount one; skipped otherwise."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=450k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"a real full disk needs root to mount a small tmpfs: {made.stderr.decode().strip()[:100]}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_a_really_full_disk_names_each_file_and_keeps_a_consistent_folder(tiny_disk):
    """The run's checkpoint (330 KB) fits once; its second write and params.npz do not. Each is named
    in one line; the metrics are written; the checkpoint kept is whole and says where it stands."""
    out = tiny_disk / "run"
    run = cli("--iters", "300", "--eval-every", "100", "--out", str(out), "--no-progress", "--no-plots")
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert lines[0].startswith(f"train.py: warning: the checkpoint {out / 'checkpoint.npz'} could not be written")
    assert "(No space left on device)" in lines[0]
    assert lines[1:] == [
        f"train.py: error: {out / 'params.npz'} could not be written (No space left on device); "
        "the other files were kept"
    ]
    assert sorted(os.listdir(out)) == ["checkpoint.npz", "metrics.csv", "metrics.json"]  # nothing half-written
    metrics = json.loads((out / "metrics.json").read_text())
    kept = xpnet.checkpoint.load(out / "checkpoint.npz")
    assert metrics["iterations"] == 300 and kept.history.iterations == 1  # the first evaluation's, whole


def test_a_long_name_that_fits_is_written_and_one_that_does_not_is_named(tmp_path):
    """Was: a 249-character name failed (its temporary name passed 255 bytes) and the error named
    the temporary file."""
    net = TwoLayerNet(4, 3, 2, seed=0)
    fits = tmp_path / ("a" * 245 + ".npz")
    net.save(fits)
    assert np.array_equal(TwoLayerNet.load(fits).params["W1"], net.params["W1"])
    assert os.listdir(tmp_path) == [fits.name]  # no temporary file left
    wide = tmp_path / ("é" * 126 + ".npz")  # 256 bytes in UTF-8: too long, though 130 characters
    for path in (tmp_path / ("b" * 300 + ".npz"), wide):
        with pytest.raises(OSError, match=r"File name too long \(more than 255 bytes\)") as caught:
            net.save(path)
        assert caught.value.filename == str(path)
    history = fit(net, np.zeros((4, 4)), np.zeros(4, dtype=int), iters=2, batch_size=2, progress=False)
    history.save(tmp_path / ("m" * 250 + ".json"))
    assert sorted(len(n) for n in os.listdir(tmp_path)) == [249, 255]
