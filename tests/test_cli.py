"""The command line (examples/train.py): output, bad input, faults, signals."""

import json
import os
import subprocess
import sys

import pytest

import xpnet
from conftest import overflowed
from xpnet import TwoLayerNet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "examples", "train.py")


def run_cli(*args, env=None, cwd=None):
    e = dict(os.environ)
    e.pop("XPNET_BACKEND", None)
    e["MPLBACKEND"] = "Agg"
    e.update(env or {})
    return subprocess.run([sys.executable, TRAIN, *args], capture_output=True, text=True, env=e, cwd=cwd, timeout=600)


def _check_run(run, out, iters):
    assert run.returncode == 0, run.stderr[-2000:]
    assert "backend numpy" in run.stdout and "float64" in run.stdout
    epoch_lines = [line for line in run.stdout.splitlines() if line.startswith("epoch ")]
    assert epoch_lines and "train acc" in epoch_lines[0] and "test acc" in epoch_lines[0]
    assert "it/s" in run.stdout and "final train acc" in run.stdout
    for name in ("loss.png", "accuracy.png", "metrics.json", "metrics.csv", "params.npz"):
        assert (out / name).stat().st_size > 0, name
        assert (out / name).read_bytes()[:4] != b""
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["loss"]) == iters
    net = TwoLayerNet.load(out / "params.npz", backend="array_api_strict")
    assert xpnet.backend.backend_of(net.xp).name == "array_api_strict"
    assert [p for p in os.listdir(out) if p.startswith(".")] == []  # no temporary files left
    return metrics, net


def test_cli_real_digits(shared_mnist, tmp_path):
    """500 iterations on MNIST's real test digits (8,000 train / 2,000 held out)."""
    out = tmp_path / "run"
    run = run_cli(
        "--dataset",
        "mnist-t10k",
        "--data-dir",
        str(shared_mnist.parent / "mnist"),
        "--iters",
        "500",
        "--out",
        str(out),
        "--no-progress",
    )
    metrics, net = _check_run(run, out, 500)
    assert "mnist-t10k: 8000 train / 2000 test" in run.stdout
    assert metrics["epochs"][-1]["test_acc"] > 0.6  # from chance (0.1)


def test_cli_offline_default(tmp_path):
    out = tmp_path / "run"
    run = run_cli(
        "--iters",
        "200",
        "--out",
        str(out),
        "--no-progress",
        env={"XPNET_DATA_DIR": str(tmp_path / "empty"), "XPNET_MNIST_MIRROR": "http://127.0.0.1:9/"},
    )
    metrics, _ = _check_run(run, out, 200)
    notices = [line for line in run.stderr.splitlines() if line.startswith("notice:")]
    assert len(notices) == 1 and "test digits that ship with xpnet" in notices[0] and len(notices[0]) < 160
    assert "xpnet fetch mnist" in notices[0]
    assert "data: mnist-t10k: 8000 train / 2000 test images, 784 inputs" in run.stdout
    assert "net: TwoLayerNet(784, 50, 10)" in run.stdout


def test_cli_progress_bar_and_numerical(tmp_path):
    out = tmp_path / "run"
    run = run_cli(
        "--dataset",
        "mnist-t10k",
        "--iters",
        "5",
        "--grad",
        "numerical",
        "--batch-size",
        "20",
        "--hidden",
        "8",
        "--out",
        str(out),
        "--no-plots",
        "--progress",
    )
    assert run.returncode == 0, run.stderr
    assert "numerical gradient: 6370 parameters" in run.stdout and "ms per gradient" in run.stdout
    assert "grad/s" in run.stderr or "s/grad" in run.stderr  # the progress bar's rate
    assert not (out / "loss.png").exists() and (out / "params.npz").exists()


@pytest.mark.parametrize(
    "args,pattern",
    [
        (["--batch-size", "0"], "--batch-size: must be a positive whole number"),
        (["--iters", "-5"], "--iters: must be a positive whole number"),
        (["--lr", "abc"], "--lr: must be a positive number"),
        (["--lr", "-0.1"], "--lr: must be a positive number"),
        (["--dtype", "float16"], "--dtype: invalid choice"),
        (["--dataset", "cifar"], "--dataset: invalid choice"),
        (["--backend", "mxnet"], "--backend: invalid choice"),
        (["--batch-size", "9000"], "--batch-size 9000 is larger than the training set"),
        (["--out", "/proc/xpnet-cannot-write"], "--out '/proc/xpnet-cannot-write' cannot be written"),
    ],
)
def test_cli_bad_input(tmp_path, args, pattern):
    full = ["--dataset", "mnist-t10k", "--iters", "5", "--no-progress"] + args
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
    run = run_cli("--dataset", "mnist-t10k", "--batch-size", "9000", "--out", str(out))
    assert run.returncode == 2 and not (tmp_path / "never").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run = run_cli("--dataset", "mnist-t10k", "--out", str(blocker / "sub"))
    assert run.returncode == 2 and "is not a folder" in run.stderr


def test_cli_unknown_backend_env(tmp_path):
    run = run_cli(
        "--dataset", "mnist-t10k", "--iters", "5", "--out", str(tmp_path / "o"), env={"XPNET_BACKEND": "tensorflow"}
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "train.py: error: unknown XPNET_BACKEND value 'tensorflow': "
        "valid backends are numpy, cupy, array_api_strict, torch, jax"
    ]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_cli_nonfinite_loss_keeps_outputs(tmp_path, monkeypatch, capsys):
    from xpnet import cli

    real_init = TwoLayerNet.__init__

    def init(self, *a, **k):
        real_init(self, *a, **k)
        overflowed(self)

    monkeypatch.setattr(TwoLayerNet, "__init__", init)
    out = tmp_path / "run"
    code = cli.train_main(
        ["--dataset", "mnist-t10k", "--iters", "3000", "--out", str(out), "--no-progress"], prog="train.py"
    )
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
    proc = subprocess.Popen(
        [sys.executable, TRAIN, "--dataset", "mnist-t10k", "--iters", "2000000", "--out", str(out), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=e,
    )
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


# ------------------------------------------------------------------ the xpnet command


def _xpnet(*args, env=None, module=True):
    e = dict(os.environ, MPLBACKEND="Agg", **(env or {}))
    e.pop("XPNET_BACKEND", None)
    cmd = [sys.executable, "-m", "xpnet", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=600)


def test_xpnet_version_and_help():
    import xpnet

    run = _xpnet("--version")
    assert run.returncode == 0 and run.stdout.strip() == f"xpnet {xpnet.__version__}"
    import re

    pyproject = open(os.path.join(ROOT, "pyproject.toml")).read()
    assert xpnet.__version__ == re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1)  # defined once
    run = _xpnet("--help")
    assert run.returncode == 0 and "usage: python -m xpnet" in run.stdout
    assert "{train,sweep,predict,fetch,info}" in run.stdout
    run = _xpnet()
    assert run.returncode == 2 and run.stderr.strip().splitlines()[-1] == (
        "python -m xpnet: error: choose a command: train, sweep, predict, fetch or info"
    )


def test_xpnet_messages_carry_the_program_name(tmp_path):
    run = _xpnet("train", "--iters", "0")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [
        "python -m xpnet train: error: argument --iters: must be a positive whole number, got '0'"
    ]
    run = _xpnet("fetch", "cifar")
    assert run.returncode == 2 and run.stderr.startswith("python -m xpnet fetch: error: argument name: invalid choice")
    run = subprocess.run([sys.executable, TRAIN, "--lr", "-1"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and run.stderr.startswith("train.py: error: argument --lr")


def test_xpnet_train_runs_the_book_experiment(tmp_path):
    out = tmp_path / "run"
    run = _xpnet(
        "train",
        "--iters",
        "100",
        "--out",
        str(out),
        "--no-plots",
        env={"XPNET_DATA_DIR": str(tmp_path / "empty"), "XPNET_MNIST_MIRROR": "http://127.0.0.1:9/"},
    )
    assert run.returncode == 0, run.stderr
    assert "net: TwoLayerNet(784, 50, 10)" in run.stdout and (out / "params.npz").exists()
    assert "\r" not in run.stderr and "it/s" not in run.stderr  # stderr is a pipe: no progress bar text


def test_xpnet_fetch_checks_what_is_there(shared_mnist, tmp_path):
    run = _xpnet("fetch", "mnist", "--data-dir", str(tmp_path / "none"), "--no-download")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.startswith("python -m xpnet fetch: error: MNIST: train-images-idx3-ubyte.gz")


def test_xpnet_info_reports_versions_backends_and_blas():
    run = _xpnet("info")
    assert run.returncode == 0, run.stderr
    text = run.stdout
    import numpy as np

    import xpnet

    assert text.startswith(f"xpnet {xpnet.__version__}")
    assert f"numpy {np.__version__}; BLAS: " in text and "threads" in text and "fit uses" in text
    assert "array-api-compat" in text and "backends usable here: numpy" in text
    assert "bundled MNIST test digits: present" in text


def test_help_texts_say_what_the_commands_do():
    """--help read as a user reads it, checked against what the commands write and do."""

    def help_of(*cmd):
        run = subprocess.run([sys.executable, "-m", "xpnet", *cmd, "--help"], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return " ".join(run.stdout.split())

    sweep = help_of("sweep")
    assert "do not draw sweep_accuracy.png and sweep_final.png" in sweep and "loss.png" not in sweep
    train = help_of("train")
    assert "do not draw loss.png and accuracy.png" in train
    assert "default: one epoch, or a whole number of epochs that keeps the run to about 50 evaluations" in train
    from xpnet.cli.session import _evaluation_plan

    class Args:
        batch_size, iters, eval_every = 100, 10_000, None

    per_epoch, every, note = _evaluation_plan(Args, "mnist-t10k", 8000)  # the bundled digits: 125 epochs
    assert (per_epoch, every) == (80, 240) and "every 3 epochs" in note and 10_000 / every <= 50
    Args.iters = 800
    assert _evaluation_plan(Args, "mnist-t10k", 8000)[1] == 80  # a short run: every epoch


def test_a_non_ascii_out_path_under_an_ascii_terminal_still_succeeds(tmp_path):
    """Printing the written paths must not turn a finished run into a failure (issue 26)."""
    out = tmp_path / "rün-ß"
    run = _xpnet(
        "train", "--iters", "20", "--dataset", "mnist-t10k", "--out", str(out), env={"PYTHONIOENCODING": "ascii"}
    )
    assert run.returncode == 0, run.stderr
    assert (out / "params.npz").exists() and (out / "metrics.json").exists()
    assert "r\\xfcn-\\xdf" in run.stdout and "Traceback" not in run.stderr


def test_a_jax_that_breaks_on_import_gets_one_line(tmp_path):
    """A broken JAX install raises RuntimeError (not ImportError) on import: one line, exit 2, no run folder."""
    (tmp_path / "jax").mkdir()
    (tmp_path / "jax" / "__init__.py").write_text('raise RuntimeError("jaxlib 0.1 is incompatible")\n')
    env = {"PYTHONPATH": str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = _xpnet("train", "--backend", "jax", "--iters", "5", "--out", str(tmp_path / "run"), env=env)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [
        "python -m xpnet train: error: backend 'jax' could not be loaded: importing JAX raised RuntimeError: "
        "jaxlib 0.1 is incompatible; reinstall it (pip install --force-reinstall '.[jax]') or choose another backend"
    ]
    assert not (tmp_path / "run").exists()


def test_a_closed_stdout_still_trains_and_writes_the_run(tmp_path):
    """``xpnet train >&-``: Python's stdout is None; the run writes its files and exits 0."""
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("XPNET_BACKEND", None)
    cmd = [sys.executable, "-m", "xpnet", "train", "--iters", "20", "--out", str(tmp_path / "run")]
    closed = ["sh", "-c", 'exec "$@" >&-', "sh", *cmd]  # the shell closes fd 1 (no fork-time hook: JAX has threads)
    run = subprocess.run(closed, stderr=subprocess.PIPE, text=True, env=env, timeout=600)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    assert sorted(os.listdir(tmp_path / "run")) == [
        "accuracy.png",
        "checkpoint.npz",
        "loss.png",
        "metrics.csv",
        "metrics.json",
        "params.npz",
    ]
