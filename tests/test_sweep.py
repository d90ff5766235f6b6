"""Many nets at once (issue 13): fit_many equals separate fits, isolates a member that goes
wrong, and runs in shards on any concurrent.futures executor (a process pool, a Dask cluster)."""

import concurrent.futures
import importlib.util
import io
import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest

import xpnet
from conftest import host
from xpnet import TwoLayerNet
from xpnet.train import fit

LRS, SEEDS = [0.1, 0.5, 1.0, 2.0], [1, 2, 3, 4]


def _data(backend="numpy", n=300, d=16, c=4, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((c, d)) * 2
    labels = rng.integers(0, c, n)
    x = centers[labels] + rng.standard_normal((n, d))
    return xpnet.asarray(x, backend=backend), xpnet.asarray(labels, backend=backend)


def _separate(i, x, t, lr, seed, iters=230, dtype="float64"):
    net = TwoLayerNet(16, 10, 4, seed=i, dtype=dtype)
    h = fit(net, x, t, x, t, lr=lr, seed=seed, iters=iters, batch_size=20, progress=False)
    return net, h


def _same(net_a, h_a, net_b, h_b):
    for k in net_a.params:
        np.testing.assert_allclose(host(net_a.params[k]), host(net_b.params[k]), rtol=0, atol=1e-10, err_msg=k)
    np.testing.assert_allclose(h_a.loss, h_b.loss, rtol=1e-12)
    assert [(r["iteration"], r["train_acc"], r["test_acc"]) for r in h_a.epochs] == [
        (r["iteration"], r["train_acc"], r["test_acc"]) for r in h_b.epochs
    ]
    assert h_a.iterations == h_b.iterations and (h_a.stopped is None) == (h_b.stopped is None)


@pytest.mark.parametrize("fast", ["auto", False])
def test_each_member_equals_its_separate_fit(backend, fast):
    x, t = _data(backend)
    nets = [TwoLayerNet(16, 10, 4, seed=i) for i in range(4)]
    histories = xpnet.fit_many(nets, x, t, x, t, lr=LRS, seed=SEEDS, iters=230, batch_size=20, fast=fast)
    assert len(histories) == 4
    for i in range(4):
        _same(nets[i], histories[i], *_separate(i, x, t, LRS[i], SEEDS[i]))
    assert histories[0].final["train_acc"] > 0.8


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_numpy_members_run_side_by_side_and_equal_fit_to_the_last_bit(monkeypatch, dtype):
    """NumPy's fast path steps members on threads, each with fit's own step: bit-identical results."""
    import threading

    from xpnet.sweep import stacked

    names, real = set(), stacked.step_of_data

    def step(*args, **kwargs):
        names.add(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(stacked, "step_of_data", step)
    x, t = _data()
    x = x.astype(dtype)
    for threads, expect in ((2, 2), (1, 1)):
        names.clear()
        nets = [TwoLayerNet(16, 10, 4, seed=i, dtype=dtype) for i in range(4)]
        histories = xpnet.fit_many(nets, x, t, x, t, lr=LRS, seed=SEEDS, iters=230, batch_size=20, threads=threads)
        assert len(names) == expect and (threads == 1) == (names == {threading.main_thread().name})
        for i in range(4):
            ref_net, ref_h = _separate(i, x, t, LRS[i], SEEDS[i], dtype=dtype)
            assert histories[i].loss == ref_h.loss and histories[i].epochs[-1]["train_acc"] == ref_h.final["train_acc"]
            for k in ref_net.params:
                assert nets[i].params[k].dtype == dtype
                np.testing.assert_array_equal(nets[i].params[k], ref_net.params[k], err_msg=k)


def test_plain_path_equals_fast_path():
    """The stacked Array-API step (batched matmul) against NumPy's member threads: within 1e-10."""
    x, t = _data()
    plain = [TwoLayerNet(16, 10, 4, seed=i) for i in range(4)]
    fast = [TwoLayerNet(16, 10, 4, seed=i) for i in range(4)]
    hp = xpnet.fit_many(plain, x, t, x, t, lr=LRS, seed=SEEDS, iters=230, batch_size=20, fast=False)
    hf = xpnet.fit_many(fast, x, t, x, t, lr=LRS, seed=SEEDS, iters=230, batch_size=20)
    for i in range(4):
        _same(plain[i], hp[i], fast[i], hf[i])


def test_ctrl_c_during_a_threaded_chunk_keeps_a_consistent_sweep():
    """SIGINT while the members run on threads: every worker stops, the chunk is rolled back,
    and each member holds exactly the updates its history records."""
    import signal
    import threading

    x, t = _data()
    nets = [TwoLayerNet(16, 10, 4, seed=i) for i in range(4)]
    timer = threading.Timer(1.0, signal.raise_signal, (signal.SIGINT,))
    timer.start()
    try:
        histories = xpnet.fit_many(
            nets, x, t, lr=LRS, seed=SEEDS, iters=10_000_000, batch_size=20, threads=2, evaluate=False
        )
    finally:
        timer.cancel()
    done = histories[0].iterations
    assert 0 < done < 10_000_000
    for i, h in enumerate(histories):
        assert h.stopped == f"interrupted (Ctrl-C) after {done} iterations" and len(h.loss) == h.iterations == done
        ref_net, ref_h = _separate(i, x, t, LRS[i], SEEDS[i], iters=done)
        assert h.loss == ref_h.loss
        for k in ref_net.params:
            np.testing.assert_array_equal(nets[i].params[k], ref_net.params[k], err_msg=k)


def test_ctrl_c_after_a_chunk_ran_but_before_it_was_recorded(monkeypatch):
    """The chunk is dropped whole: the histories are rewound and the parameters rolled back."""
    from xpnet.runloop import RunLoop

    calls, real = {"n": 0}, RunLoop._record

    def record(self, *args):
        calls["n"] += 1
        out = real(self, *args)  # histories extended, parameters stepped ...
        if calls["n"] == 3:
            raise KeyboardInterrupt  # ... and then Ctrl-C
        return out

    monkeypatch.setattr(RunLoop, "_record", record)
    x, t = _data()
    nets = [TwoLayerNet(16, 10, 4, seed=i) for i in range(4)]
    histories = xpnet.fit_many(nets, x, t, lr=LRS, seed=SEEDS, iters=1000, batch_size=20, eval_every=1000)
    for i, h in enumerate(histories):  # chunks: 1 (the evaluation after iteration 1), 100, the third dropped
        assert h.stopped == "interrupted (Ctrl-C) after 101 iterations" and len(h.loss) == h.iterations == 101
        ref_net, ref_h = _separate(i, x, t, LRS[i], SEEDS[i], iters=101)
        for k in ref_net.params:
            np.testing.assert_array_equal(nets[i].params[k], ref_net.params[k], err_msg=k)


def test_an_error_in_one_member_thread_stops_the_sweep(monkeypatch):
    import time

    from xpnet.sweep import stacked

    calls, real = {"n": 0}, stacked.step_of_data

    def step(params, data, idx, xp=None):
        calls["n"] += 1
        if data[2] == 0.5 and calls["n"] > 150:
            raise MemoryError("no room for this member")
        return real(params, data, idx, xp=xp)

    monkeypatch.setattr(stacked, "step_of_data", step)
    x, t = _data()
    with pytest.raises(MemoryError, match="no room for this member"):
        xpnet.fit_many(
            [TwoLayerNet(16, 10, 4, seed=i) for i in range(4)],
            x,
            t,
            lr=LRS,
            seed=SEEDS,
            iters=100_000,
            batch_size=20,
            threads=2,
            evaluate=False,
        )
    n = calls["n"]
    time.sleep(0.3)
    assert calls["n"] == n  # no member thread is still stepping


@pytest.mark.parametrize("fast", ["auto", False])
def test_a_member_that_diverges_stops_alone(backend, fast):
    x, t = _data(backend)
    lrs = [0.1, 1e300, 0.5]
    nets = [TwoLayerNet(16, 10, 4, seed=i, backend=backend) for i in range(3)]
    histories = xpnet.fit_many(nets, x, t, x, t, lr=lrs, seed=SEEDS[:3], iters=230, batch_size=20, fast=fast)
    bad = histories[1]
    assert bad.stopped.startswith("the loss diverged at iteration") and bad.iterations == bad.nonfinite_iteration - 1
    ref_net, ref_h = _separate(1, x, t, 1e300, SEEDS[1])  # fit stops there too, with the same parameters
    assert ref_h.nonfinite_iteration == bad.nonfinite_iteration and ref_h.iterations == bad.iterations
    assert bad.stopped == ref_h.stopped  # one rule and one message for fit and fit_many
    for k in ref_net.params:
        np.testing.assert_allclose(host(nets[1].params[k]), host(ref_net.params[k]), rtol=1e-12)
    for i in (0, 2):  # the others train on to the end, unaffected
        assert histories[i].stopped is None and histories[i].iterations == 230
        _same(nets[i], histories[i], *_separate(i, x, t, lrs[i], SEEDS[i]))


def test_a_member_whose_loss_turns_nan_stops_alone(backend):
    """A NaN in one member's weights: that member stops at iteration 1 as fit stops; the others
    are the separate fits' to 1e-10."""
    x, t = _data(backend)
    nets = [TwoLayerNet(16, 10, 4, seed=i) for i in range(3)]
    bad_b2 = np.array([np.nan, 0.0, 0.0, 0.0])
    nets[1].params["b2"] = xpnet.asarray(bad_b2, backend=backend)
    histories = xpnet.fit_many(nets, x, t, x, t, lr=0.1, seed=SEEDS[:3], iters=230, batch_size=20)
    ref = TwoLayerNet(16, 10, 4, seed=1)
    ref.params["b2"] = xpnet.asarray(bad_b2, backend=backend)
    ref_h = fit(ref, x, t, lr=0.1, seed=SEEDS[1], iters=230, batch_size=20, progress=False)
    bad = histories[1]
    assert bad.stopped == ref_h.stopped and bad.stopped.startswith("the loss became nan at iteration 1;")
    assert bad.iterations == 0 == ref_h.iterations and bad.nonfinite_iteration == 1 and np.isnan(bad.loss[0])
    for i in (0, 2):
        assert histories[i].stopped is None and histories[i].iterations == 230
        _same(nets[i], histories[i], *_separate(i, x, t, 0.1, SEEDS[i]))


def test_bad_sweeps_are_clear_errors():
    x, t = _data()
    with pytest.raises(ValueError, match=r"lr must be one value or one per net \(2\), got 3 values"):
        xpnet.fit_many([TwoLayerNet(16, 10, 4), TwoLayerNet(16, 10, 4)], x, t, lr=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="a sweep needs one shape and dtype"):
        xpnet.fit_many([TwoLayerNet(16, 10, 4), TwoLayerNet(16, 11, 4)], x, t)
    with pytest.raises(ValueError, match=r"lr\[1\] must be a positive number"):
        xpnet.fit_many([TwoLayerNet(16, 10, 4), TwoLayerNet(16, 10, 4)], x, t, lr=[0.1, -1])
    with pytest.raises(TypeError, match="nets must be a non-empty list of TwoLayerNet"):
        xpnet.fit_many([], x, t)
    with pytest.raises(ValueError, match="threads must be a positive"):
        xpnet.fit_many([TwoLayerNet(16, 10, 4)], x, t, threads=0)
    with pytest.raises(ValueError, match="threads is for a sweep in this process"):
        xpnet.fit_many([TwoLayerNet(16, 10, 4)], x, t, threads=2, executor=concurrent.futures.ThreadPoolExecutor(1))
    with pytest.raises(ValueError, match="fast must be 'auto', True or False, got 'yes'"):
        xpnet.fit_many([TwoLayerNet(16, 10, 4)], x, t, fast="yes")


def _in_process():
    x, t = _data()
    nets = [TwoLayerNet(16, 10, 4, seed=i) for i in range(4)]
    return nets, xpnet.fit_many(nets, x, t, x, t, lr=LRS, seed=SEEDS, iters=120, batch_size=20)


def _check_sharded(executor, shards):
    x, t = _data()
    ref_nets, ref_h = _in_process()
    nets = [TwoLayerNet(16, 10, 4, seed=i) for i in range(4)]
    histories = xpnet.fit_many(
        nets, x, t, x, t, lr=LRS, seed=SEEDS, iters=120, batch_size=20, executor=executor, shards=shards
    )
    for i in range(4):
        _same(nets[i], histories[i], ref_nets[i], ref_h[i])


def test_shards_on_a_process_pool():
    import multiprocessing

    with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        _check_sharded(pool, shards=3)


@pytest.mark.skipif(
    importlib.util.find_spec("distributed") is None,
    reason="Dask's distributed is not installed: pip install '.[dask]'",
)
def test_shards_on_a_local_dask_cluster():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        _check_sharded(client.get_executor(), shards=2)


# ------------------------------------------------------------------ xpnet sweep


def _xpnet(*args, env=None, timeout=600):
    import os
    import subprocess
    import sys

    e = dict(os.environ, MPLBACKEND="Agg", **(env or {}))
    e.pop("XPNET_BACKEND", None)
    return subprocess.run(
        [sys.executable, "-m", "xpnet", *args], capture_output=True, text=True, env=e, timeout=timeout
    )


def test_xpnet_sweep_runs_the_experiment_and_equals_single_runs(tmp_path):
    import json

    out = tmp_path / "sweep"
    run = _xpnet(
        "sweep",
        "--dataset",
        "mnist-t10k",
        "--lr",
        "0.1",
        "1",
        "--seeds",
        "2",
        "--iters",
        "200",
        "--out",
        str(out),
        "--no-progress",
    )
    assert run.returncode == 0, run.stderr
    assert "sweep: 2 learning rates x 2 seeds = 4 TwoLayerNet(784, 50, 10)" in run.stdout
    table = [line.split() for line in run.stdout.splitlines() if line.strip().startswith(("0.1 ", "1 "))]
    assert [r[0] for r in table] == ["0.1", "1"]
    assert sorted(p.name for p in out.iterdir()) == [
        "lr0.1-seed0",
        "lr0.1-seed1",
        "lr1-seed0",
        "lr1-seed1",
        "summary.csv",
        "summary.json",
        "sweep_accuracy.png",
        "sweep_final.png",
    ]
    summary = json.loads((out / "summary.json").read_text())
    assert [r["lr"] for r in summary["rates"]] == [0.1, 1.0] and len(summary["members"]) == 4
    member = json.loads((out / "lr1-seed1" / "metrics.json").read_text())
    single = tmp_path / "single"
    train = _xpnet(
        "train",
        "--dataset",
        "mnist-t10k",
        "--lr",
        "1",
        "--seed",
        "1",
        "--iters",
        "200",
        "--out",
        str(single),
        "--no-progress",
        "--no-plots",
        "--blas-threads",
        "1",  # a sweep's members run one BLAS thread each; more threads change the last bits
    )
    assert train.returncode == 0, train.stderr
    alone = json.loads((single / "metrics.json").read_text())
    assert member["loss"] == alone["loss"] and member["epochs"][-1]["test_acc"] == alone["epochs"][-1]["test_acc"]
    from xpnet import TwoLayerNet

    a, b = TwoLayerNet.load(out / "lr1-seed1" / "params.npz"), TwoLayerNet.load(single / "params.npz")
    for k in a.params:
        np.testing.assert_allclose(a.params[k], b.params[k], rtol=0, atol=1e-10)
    # the same sweep on two processes: the same summary
    again = _xpnet(
        "sweep",
        "--dataset",
        "mnist-t10k",
        "--lr",
        "0.1",
        "1",
        "--seeds",
        "2",
        "--iters",
        "200",
        "--out",
        str(out),
        "--overwrite",
        "--workers",
        "2",
        "--no-progress",
        "--no-plots",
    )
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "summary.json").read_text())["rates"] == summary["rates"]
    assert not (out / "sweep_final.png").exists()  # --overwrite removed the earlier run's files


def test_xpnet_sweep_bad_input_and_a_taken_folder(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    run = _xpnet("sweep", "--out", str(tmp_path / "taken"))
    assert run.returncode == 2 and "already holds notes.txt" in run.stderr and "Traceback" not in run.stderr
    run = _xpnet("sweep", "--grad", "numerical", "--out", str(tmp_path / "n"))
    assert run.returncode == 2 and run.stderr.strip().splitlines() == [
        "python -m xpnet sweep: error: --grad numerical is not for sweeps; use xpnet train --grad numerical"
    ]
    run = _xpnet("sweep", "--threads", "2", "--workers", "2", "--out", str(tmp_path / "t"))
    assert (
        run.returncode == 2
        and run.stderr.strip().splitlines()
        == [
            "python -m xpnet sweep: error: --threads is for a sweep in this process; with --workers N each process "
            "trains its shard on one thread"
        ]
        and not (tmp_path / "t").exists()
    )
    run = _xpnet("sweep", "--lr", "0.1", "-1")
    assert run.returncode == 2 and "argument --lr: must be a positive number, got '-1'" in run.stderr


def test_xpnet_sweep_sigterm_keeps_what_was_done(tmp_path):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "sweep"
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("XPNET_BACKEND", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xpnet",
            "sweep",
            "--dataset",
            "mnist-t10k",
            "--lr",
            "0.1",
            "1",
            "--seeds",
            "1",
            "--iters",
            "2000000",
            "--eval-every",
            "200",
            "--hidden",
            "20",
            "--out",
            str(out),
            "--no-progress",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    time.sleep(8)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    for name in ("lr0.1-seed0", "lr1-seed0"):
        metrics = json.loads((out / name / "metrics.json").read_text())
        assert metrics["iterations"] == len(metrics["loss"]) > 0 and metrics["stopped"].startswith(
            "interrupted (SIGTERM)"
        )
    assert (out / "summary.json").exists()


def test_the_example_script_runs_a_sweep(tmp_path):
    import os
    import subprocess
    import sys

    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "sweep.py")
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("XPNET_BACKEND", None)
    run = subprocess.run(
        [
            sys.executable,
            script,
            "--dataset",
            "mnist-t10k",
            "--lr",
            "0.5",
            "--seeds",
            "2",
            "--iters",
            "50",
            "--out",
            str(tmp_path / "s"),
            "--no-progress",
            "--no-plots",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "s" / "lr0.5-seed1" / "params.npz").exists()
    bad = subprocess.run([sys.executable, script, "--seeds", "0"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("sweep.py: error: argument --seeds")


def test_a_sweep_out_to_1e300_draws_its_figures_and_writes_strict_json(tmp_path):
    """A rate that overflows everything: no traceback from matplotlib, and no NaN tokens in the JSON."""
    out = tmp_path / "sweep"
    run = subprocess.run(
        [sys.executable, "-m", "xpnet", "sweep", "--dataset", "mnist-t10k", "--iters", "300", "--hidden", "10",
         "--lr", "0.1", "1e300", "--seeds", "1", "--out", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-2000:]

    def refuse(token):
        raise ValueError(f"{token} is not JSON")

    summary = json.loads((out / "summary.json").read_text(), parse_constant=refuse)
    assert [m["stopped"] is not None for m in summary["members"]] == [False, True]
    for name in ("lr0.1-seed0", "lr1e+300-seed0"):
        json.loads((out / name / "metrics.json").read_text(), parse_constant=refuse)
    assert (out / "sweep_final.png").stat().st_size > 10_000


def test_a_sweep_logs_its_progress_where_stderr_is_not_a_terminal(tmp_path):
    """No bar in a log or a pipe, and not 50 s of silence either: a line now and then and one at the
    end (in this process), a line per finished shard (on worker processes)."""
    line = re.compile(r"^sweep: [\d,]+/12,000 net-it \(\d+%\), [\d,]+ net-it/s(, ETA \d+ s)?$")
    args = ["sweep", "--dataset", "mnist-t10k", "--lr", "0.1", "1", "--seeds", "2", "--iters", "3000", "--no-plots"]
    run = _xpnet(*args, "--out", str(tmp_path / "here"))
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 0 and lines and all(line.match(s) for s in lines), lines
    assert lines[-1].startswith("sweep: 12,000/12,000 net-it (100%)")
    run = _xpnet(*args, "--workers", "2", "--out", str(tmp_path / "workers"))
    lines = sorted(run.stderr.strip().splitlines(), key=lambda s: s[-8:])
    assert run.returncode == 0 and [s[-8:] for s in lines] == ["(1 of 2)", "(2 of 2)"], lines
    assert {s.split(" finished")[0] for s in lines} == {
        "sweep: the shard of members 0, 1",
        "sweep: the shard of members 2, 3",
    }
    quiet = _xpnet(*args, "--out", str(tmp_path / "quiet"), "--no-progress")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_log_progress_lines_come_first_after_a_while_then_every_so_often_and_at_the_end():
    from xpnet._progress import LogBar

    out = io.StringIO()
    bar = LogBar(total=100, file=out, desc="sweep", unit="net-it", every=0.5, first=0.05)
    bar.update(10)  # too soon for a rate worth reading
    time.sleep(0.08)
    bar.update(10)  # a line
    bar.update(10)  # within ``every`` of it
    time.sleep(0.6)
    bar.update(10)  # a line
    bar.close()  # the last line
    bar.close()  # once
    lines = out.getvalue().splitlines()
    heads = [s.split("),")[0] + ")" for s in lines]
    assert heads == ["sweep: 20/100 net-it (20%)", "sweep: 40/100 net-it (40%)", "sweep: 40/100 net-it (40%)"], lines
    assert all(re.search(r", [\d,]+ net-it/s, ETA \d+ s$", s) for s in lines), lines
    with pytest.raises(ValueError, match="'log' \\(a line every 10 s\\)"):
        xpnet.fit_many(
            [TwoLayerNet(4, 3, 2)], np.zeros((4, 4)), np.zeros(4, dtype=int), iters=2, batch_size=2, progress="lines"
        )
