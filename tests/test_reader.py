"""Where a reader of the chapter trips (issue 19): the chapter's names, errors that lead somewhere."""

import os
import subprocess
import sys

import numpy as np
import pytest

import xpnet


def test_the_chapters_spelling_of_the_sum_of_squares_error():
    from xpnet import book

    ns = {}
    exec("from xpnet.book import *", ns)
    y, t = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0], [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    assert float(ns["sum_squares_error"](np.array(y), np.array(t))) == pytest.approx(0.0975)  # the book's value
    assert book.sum_squares_error is book.sum_squared_error is xpnet.sum_squares_error is xpnet.sum_squared_error


def test_offline_load_mnist_names_the_bundled_digits(tmp_path, monkeypatch):
    from xpnet.datasets import DatasetError, load_mnist

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    with pytest.raises(DatasetError) as info:
        load_mnist(data_dir=tmp_path / "empty", download=False)
    assert "xpnet.datasets.load_mnist_t10k()" in str(info.value) and "--dataset mnist-t10k" in str(info.value)


def test_a_missing_torch_points_to_the_cpu_build():
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['array_api_compat.torch'] = None\n"
        "import xpnet\n"
        "try:\n    xpnet.set_backend('torch')\nexcept xpnet.BackendError as e:\n    print(e)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "PyTorch's CPU build" in run.stdout and "gigabytes of CUDA libraries" in run.stdout, run.stderr


def test_a_per_row_function_points_to_numerical_gradient_2d():
    with pytest.raises(TypeError, match=r"xpnet.book.numerical_gradient_2d\(f, x\)"):
        xpnet.numerical_gradient(lambda x: x**2, np.array([[1.0, 2.0], [3.0, 4.0]]))
    from xpnet.book import numerical_gradient_2d

    g = numerical_gradient_2d(lambda x: float(np.sum(x**2)), np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_allclose(g, [[2.0, 4.0], [6.0, 8.0]], rtol=1e-6)


def _run(*args):
    env = dict(os.environ)
    env.pop("XPNET_BACKEND", None)
    return subprocess.run([sys.executable, "-m", "xpnet", *args], capture_output=True, text=True, timeout=120, env=env)


def test_usage_errors_name_the_subcommand():
    run = _run("train", "--itters", "100")
    assert run.returncode == 2 and run.stderr.strip().splitlines() == [
        "python -m xpnet train: error: unrecognized arguments: --itters 100"
    ]
    run = _run("sweep", "--bogus")
    assert run.returncode == 2 and run.stderr.strip() == "python -m xpnet sweep: error: unrecognized arguments: --bogus"


def test_every_entry_point_answers_version():
    from xpnet.cli import sweep_main, train_main

    for entry in (train_main, sweep_main):
        with pytest.raises(SystemExit) as done:
            entry(["--version"], prog="x")
        assert done.value.code == 0
    run = subprocess.run(
        [sys.executable, os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples", "train.py"), "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0 and run.stdout.strip() == f"xpnet {xpnet.__version__}"
