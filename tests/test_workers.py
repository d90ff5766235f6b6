"""Sweeps on worker processes keep every promise of an in-process run (issue 18): real signals to a
real ``xpnet sweep --workers 2``, a worker killed with SIGKILL, the main process killed hard, an
executor that fails, member folders, data by reference, and every argument named."""

import concurrent.futures
import gzip
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import xpnet
from xpnet import TwoLayerNet
from xpnet.sweep import SweepError
from xpnet.train import fit
from xpnet.workers import ProcessShards, TaskFailed, WorkerDied, portable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env():
    e = dict(os.environ, MPLBACKEND="Agg", TQDM_DISABLE="1")
    e.pop("XPNET_BACKEND", None)
    return e


def _sweep(out, *args, iters="3000000"):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xpnet",
            "sweep",
            "--dataset",
            "mnist-t10k",
            "--iters",
            iters,
            "--hidden",
            "10",
            "--lr",
            "0.1",
            "1",
            "--seeds",
            "2",
            "--workers",
            "2",
            "--eval-every",
            "200",
            "--out",
            str(out),
            "--no-progress",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        start_new_session=True,
    )


def _children(pid):
    """PIDs of the processes ``pid`` started (Linux /proc)."""
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                found += [int(p) for p in fh.read().split()]
        except OSError:
            pass
    return found


def _workers(proc, n=2, timeout=120):
    """Wait until ``proc`` runs ``n`` worker processes that have started training; their PIDs."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        kids = [p for p in _children(proc.pid) if _cpu_seconds(p) > 1.5]  # past the spawn and imports
        if len(kids) >= n:
            return kids
        time.sleep(0.2)
    raise AssertionError(f"{n} workers did not start: {_children(proc.pid)}")


def _cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _gone(pids, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        alive = [p for p in pids if os.path.exists(f"/proc/{p}") and "Z" not in _state(p)]
        if not alive:
            return True
        time.sleep(0.1)
    return False


def _state(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "X"


def _members(out):
    return {
        d: json.loads((out / d / "metrics.json").read_text())
        for d in sorted(os.listdir(out))
        if (out / d / "metrics.json").exists()
    }


@pytest.mark.parametrize(
    "sig,code,name", [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGINT, 130, "Ctrl-C"), (signal.SIGHUP, 129, "SIGHUP")]
)
def test_signals_stop_every_worker_and_keep_every_member(tmp_path, sig, code, name):
    out = tmp_path / "sweep"
    proc = _sweep(out)
    workers = _workers(proc)
    time.sleep(1.0)
    t0 = time.time()
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert time.time() - t0 < 30  # promptly, never a hang
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr and "stopped: interrupted" in stderr
    assert _gone(workers), "a worker outlived the sweep"
    members = _members(out)
    assert sorted(members) == ["lr0.1-seed0", "lr0.1-seed1", "lr1-seed0", "lr1-seed1"]
    for folder, m in members.items():
        assert m["iterations"] > 0 and len(m["loss"]) == m["iterations"], folder
        assert m["stopped"] == f"interrupted ({name}) after {m['iterations']} iterations"
        net = TwoLayerNet.load(out / folder / "params.npz")
        assert np.all(np.isfinite(net.params["W1"]))
    assert not [p for p in os.listdir(out) if p.startswith(".")]  # no lock, no temporary file


def test_each_member_holds_exactly_what_its_metrics_record(tmp_path):
    """After SIGTERM, a member's parameters are those of a separate fit of its recorded iterations."""
    out = tmp_path / "sweep"
    proc = _sweep(out)
    _workers(proc)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 143
    from xpnet.datasets import load_mnist_t10k

    (x, t), _ = load_mnist_t10k(dtype="float64", backend="numpy")
    m = _members(out)["lr1-seed1"]
    again = TwoLayerNet(784, 10, 10, seed=1)
    fit(again, x, t, iters=m["iterations"], lr=1.0, seed=1, progress=False, evaluate=False, blas_threads=1)
    saved = TwoLayerNet.load(out / "lr1-seed1" / "params.npz")
    for k in saved.params:
        np.testing.assert_array_equal(saved.params[k], again.params[k], err_msg=k)


def test_workers_exit_when_the_main_process_is_killed_hard(tmp_path):
    proc = _sweep(tmp_path / "sweep")
    workers = _workers(proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert _gone(workers, timeout=10), "orphaned workers kept running"


def test_a_worker_that_dies_is_one_line_and_the_others_are_written(tmp_path):
    out = tmp_path / "sweep"
    proc = _sweep(out, iters="40000")  # long enough to be killed while training on a fast machine
    victim = _workers(proc)[0]
    os.kill(victim, signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 1, stderr
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr and len(lines) == 1, lines
    assert lines[0].startswith("python -m xpnet sweep: error: the worker holding members ")
    assert "killed by SIGKILL" in lines[0] and "the other members' results are written" in lines[0]
    members = _members(out)
    assert len(members) == 4
    failed = [f for f in members if f in lines[0]]
    assert len(failed) == 2
    for folder, m in members.items():
        if folder in failed:
            assert m["iterations"] == 0 and m["stopped"].startswith("its shard failed")
        else:
            assert m["iterations"] == 40000 and m["stopped"] is None and len(m["epochs"]) == 40000 // 200 + 1


def _spawned_worker(parent, timeout=60):
    """The first worker ``parent`` spawns, the moment it exists (still starting: importing Python)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for pid in _children(parent):
            try:
                with open(f"/proc/{pid}/cmdline") as fh:
                    if "spawn_main" in fh.read():
                        return pid
            except OSError:
                pass
        time.sleep(0.001)
    raise AssertionError("no worker was spawned")


def test_a_worker_killed_at_start_up_fails_its_task_at_once():
    """Was a hang: CPython's spawn writes the task to the starting child while it holds that pipe's
    read end itself, so a task larger than a pipe and a child killed at start-up blocked forever."""
    pool = ProcessShards(1)
    try:
        future = pool.submit(np.sum, np.ones(2_000_000))  # 16 MB: far more than a pipe holds
        os.kill(_spawned_worker(os.getpid()), signal.SIGKILL)
        with pytest.raises(WorkerDied, match="killed by SIGKILL"):
            future.result(timeout=30)
        assert pool.submit(np.sum, np.ones(2_000_000)).result(timeout=60) == 2_000_000  # the pool goes on
    finally:
        pool.shutdown(wait=False)


def test_xpnet_sweep_with_a_worker_killed_at_start_up_ends_in_one_line(tmp_path):
    out = tmp_path / "sweep"
    proc = _sweep(out, iters="3000")
    os.kill(_spawned_worker(proc.pid), signal.SIGKILL)
    try:
        _, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError("the sweep hung after a worker was killed at start-up") from None
    lines = stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and "Traceback" not in stderr, stderr
    assert "the worker holding members " in lines[0] and "killed by SIGKILL" in lines[0]
    members = _members(out)
    assert sorted(m["iterations"] for m in members.values()) == [0, 0, 3000, 3000]


# ------------------------------------------------------------------ executors


def _data(n=300, d=16, c=4, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((c, d)) * 2
    labels = rng.integers(0, c, n)
    return centers[labels] + rng.standard_normal((n, d)), labels


class SecondFails(concurrent.futures.ThreadPoolExecutor):
    """A real executor whose second task fails (as a lost cluster worker would); with ``refuse``,
    its ``submit`` raises for the second task instead (a cluster lost between two submissions)."""

    def __init__(self, refuse=False):
        super().__init__(1)
        self.n, self.refuse = 0, refuse

    def submit(self, fn, *args, **kwargs):
        self.n += 1
        if self.n == 2 and self.refuse:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if self.n == 2:
            future = concurrent.futures.Future()
            future.set_exception(ConnectionError("worker lost"))
            return future
        return super().submit(fn, *args, **kwargs)


def test_a_failed_shard_leaves_no_unrecorded_update():
    x, t = _data()
    nets = [TwoLayerNet(16, 10, 4, seed=i) for i in range(4)]
    before = [{k: v.copy() for k, v in n.params.items()} for n in nets]
    with SecondFails() as pool, pytest.raises(SweepError, match=r"the shard of members 2, 3 failed: worker lost"):
        try:
            xpnet.fit_many(nets, x, t, lr=0.5, seed=[1, 2, 3, 4], iters=20, batch_size=20, executor=pool, shards=2)
        except SweepError as exc:
            histories = exc.histories
            raise
    for i in (0, 1):  # finished: updated, and the history says so
        assert histories[i].iterations == 20 and not np.array_equal(nets[i].params["W1"], before[i]["W1"])
        ref = TwoLayerNet(16, 10, 4, seed=i)
        fit(ref, x, t, lr=0.5, seed=i + 1, iters=20, batch_size=20, progress=False, evaluate=False)
        np.testing.assert_array_equal(nets[i].params["W1"], ref.params["W1"])
    for i in (2, 3):  # failed: untouched, and the history says why
        assert histories[i].iterations == 0 and histories[i].stopped.startswith("its shard failed: worker lost")
        for k in before[i]:
            np.testing.assert_array_equal(nets[i].params[k], before[i][k])


def test_an_executor_whose_submit_raises_fails_only_that_shard():
    """Not a bare RuntimeError while the other shard runs on: the other shard finishes and is kept,
    and the sweep's error names the members that could not be submitted."""
    x, t = _data()
    nets = [TwoLayerNet(16, 10, 4, seed=i) for i in range(4)]
    refused = pytest.raises(SweepError, match=r"members 2, 3 failed: cannot schedule")
    with SecondFails(refuse=True) as pool, refused as caught:
        xpnet.fit_many(nets, x, t, lr=0.5, seed=[1, 2, 3, 4], iters=20, batch_size=20, executor=pool, shards=2)
    histories = caught.value.histories
    assert [h.iterations for h in histories] == [20, 20, 0, 0]
    assert histories[3].stopped == "its shard failed: cannot schedule new futures after shutdown"
    ref = TwoLayerNet(16, 10, 4, seed=1)
    fit(ref, x, t, lr=0.5, seed=2, iters=20, batch_size=20, progress=False, evaluate=False)
    np.testing.assert_array_equal(nets[1].params["W1"], ref.params["W1"])


class TwoArgError(Exception):
    """An exception its pickle cannot rebuild (``__init__`` takes two arguments; ``args`` holds one)."""

    def __init__(self, left, right):
        super().__init__(f"{left} and {right}")


def _raise_two_arg_error():
    raise TwoArgError("left", "right")


def test_an_error_the_parent_cannot_rebuild_still_settles_its_future():
    """Was: the parent's unpickling raised in the waiting thread and the future stayed pending forever."""
    with ProcessShards(1) as pool:
        future = pool.submit(_raise_two_arg_error)
        with pytest.raises(TaskFailed, match="^TwoArgError: left and right$") as caught:
            future.result(timeout=60)
        assert "_raise_two_arg_error" in caught.value.remote_traceback
        assert pool.submit(pow, 2, 10).result(timeout=60) == 1024  # the pool goes on


def test_portable_keeps_what_pickles_and_names_what_does_not():
    ok = ("ok", {"W1": np.ones(3)})
    assert portable(ok) is ok
    error = ("error", ValueError("x"), "trace")
    assert portable(error) is error
    unpicklable = ValueError("bad batch")
    unpicklable.hook = lambda: None  # an attribute no pickle can carry (tblib's, which Dask installs, neither)
    kind, failed, trace = portable(("error", unpicklable, "the worker's trace"))
    assert (kind, str(failed)) == ("error", "ValueError: bad batch")
    assert trace == failed.remote_traceback == "the worker's trace"
    kind, failed, _ = portable(("ok", lambda: 1))
    assert kind == "error" and str(failed).startswith("the task's result could not be sent back:")


def test_process_shards_isolate_a_dying_task():
    with ProcessShards(2) as pool:
        ok = pool.submit(sum, [1, 2, 3])
        dies = pool.submit(os._exit, 3)
        assert ok.result(timeout=60) == 6
        with pytest.raises(WorkerDied, match="exit code 3"):
            dies.result(timeout=60)
        assert pool.submit(pow, 2, 10).result(timeout=60) == 1024  # the pool still works


def test_shards_get_the_data_by_reference(monkeypatch):
    """A process executor's shards map one copy of the data from a file; results equal the in-process run."""
    from xpnet.sweep import shards

    seen = []
    real = shards.shared

    def spy(executor, host):
        cm = real(executor, host)
        shared = cm.__enter__()
        seen.append(shared)
        return _Held(cm, shared)

    monkeypatch.setattr(shards, "shared", spy)
    x, t = _data()
    here = [TwoLayerNet(16, 10, 4, seed=i) for i in range(4)]
    h_here = xpnet.fit_many(here, x, t, lr=0.5, seed=[1, 2, 3, 4], iters=30, batch_size=20)
    there = [TwoLayerNet(16, 10, 4, seed=i) for i in range(4)]
    with ProcessShards(2) as pool:
        h_there = xpnet.fit_many(
            there, x, t, lr=0.5, seed=[1, 2, 3, 4], iters=30, batch_size=20, executor=pool, shards=2
        )
    assert set(seen[0]) == {"files"} and all(p is None or p.endswith(".npy") for p in seen[0]["files"])
    assert not os.path.exists(os.path.dirname(seen[0]["files"][0]))  # removed after the sweep
    for a, b, ha, hb in zip(here, there, h_here, h_there):
        np.testing.assert_array_equal(a.params["W2"], b.params["W2"])
        assert ha.loss == hb.loss


class _Held:
    def __init__(self, cm, value):
        self.cm, self.value = cm, value

    def __enter__(self):
        return self.value

    def __exit__(self, *exc):
        return self.cm.__exit__(*exc)


# ------------------------------------------------------------------ member folders


def test_member_folders_write_the_rate_exactly(tmp_path):
    out = tmp_path / "s"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "xpnet",
            "sweep",
            "--dataset",
            "mnist-t10k",
            "--iters",
            "3",
            "--hidden",
            "4",
            "--lr",
            "0.1",
            "0.1000001",
            "--seeds",
            "1",
            "--out",
            str(out),
            "--no-plots",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert sorted(p for p in os.listdir(out) if (out / p).is_dir()) == ["lr0.1-seed0", "lr0.1000001-seed0"]
    assert "lr0.1-seed0/, lr0.1000001-seed0/" in run.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert [m["folder"] for m in summary["members"]] == ["lr0.1-seed0", "lr0.1000001-seed0"]


def test_a_rate_given_twice_is_refused(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "xpnet", "sweep", "--lr", "0.1", "0.1", "--seeds", "2", "--out", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert run.returncode == 2 and run.stderr.strip().splitlines() == [
        "python -m xpnet sweep: error: --lr lists 0.1 twice; give each rate once (--seeds N trains N nets per rate)"
    ]
    assert not (tmp_path / "s").exists()


def test_too_many_seeds_are_refused_before_anything_is_made(tmp_path):
    t0 = time.time()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "xpnet",
            "sweep",
            "--dataset",
            "mnist-t10k",
            "--seeds",
            "1000000000",
            "--out",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "--seeds 1000000000" in run.stderr and "4,000,000,000 nets" in run.stderr
    assert time.time() - t0 < 60 and not (tmp_path / "s").exists()


# ------------------------------------------------------------------ every argument named


def test_seeds_as_any_sequence_give_each_member_its_own_batches():
    x, t = _data()
    for seeds in (np.arange(3), range(3), [0, 1, 2], (0, 1, 2)):
        nets = [TwoLayerNet(16, 10, 4, seed=0) for _ in range(3)]
        hs = xpnet.fit_many(nets, x, t, lr=0.5, seed=seeds, iters=10, batch_size=20)
        assert len({tuple(h.loss) for h in hs}) == 3 and [h.config["seed"] for h in hs] == [0, 1, 2]
    with pytest.raises(ValueError, match=r"seed must be one value or one per net \(3\), got 2 values"):
        xpnet.fit_many([TwoLayerNet(16, 10, 4) for _ in range(3)], x, t, seed=np.arange(2))
    with pytest.raises(ValueError, match=r"seed\[1\] must be None or a whole number"):
        xpnet.fit_many([TwoLayerNet(16, 10, 4) for _ in range(2)], x, t, seed=[1, -2])


def test_nets_of_different_backends_are_refused():
    pytest.importorskip("jax", reason="JAX is not installed: pip install '.[jax]'")
    x, t = _data()
    jax_net = TwoLayerNet(16, 10, 4, seed=0, backend="jax")
    with pytest.raises(ValueError, match=r"nets\[1\] lives on jax .* but nets\[0\] on numpy"):
        xpnet.fit_many([TwoLayerNet(16, 10, 4), jax_net], x, t, iters=2)
    net = TwoLayerNet(16, 10, 4)
    with pytest.raises(ValueError, match="the same TwoLayerNet twice"):
        xpnet.fit_many([net, net], x, t, iters=2)


@pytest.mark.parametrize("fast", [0, -1, "bogus", 1.5, None])
def test_fast_takes_only_its_documented_values(fast):
    x, t = _data()
    with pytest.raises(ValueError, match="fast must be 'auto', True, False or a positive int"):
        fit(TwoLayerNet(16, 10, 4), x, t, iters=2, fast=fast)
    with pytest.raises(ValueError, match="fast must be 'auto', True or False"):
        xpnet.fit_many([TwoLayerNet(16, 10, 4)], x, t, iters=2, fast=fast)


def test_fast_zero_on_jax_is_refused_not_a_hang():
    pytest.importorskip("jax", reason="JAX is not installed: pip install '.[jax]'")
    x, t = _data()
    net = TwoLayerNet(16, 10, 4, backend="jax")
    with pytest.raises(ValueError, match="got 0"):
        fit(net, xpnet.asarray(x, backend="jax"), xpnet.asarray(t, backend="jax"), iters=2, fast=0)


def test_numpy_scalars_are_numbers():
    x, t = _data()
    net = TwoLayerNet(16, 10, 4, weight_init_std=np.float32(0.01), seed=0)
    h = fit(net, x, t, iters=3, lr=np.float32(0.1), batch_size=np.int64(20), progress=False)
    assert h.iterations == 3
    hs = xpnet.fit_many(
        [TwoLayerNet(16, 10, 4) for _ in range(2)],
        x,
        t,
        lr=np.array([0.1, 0.5]),
        seed=np.array([1, 2]),
        iters=3,
        batch_size=20,
    )
    assert [h.config["lr"] for h in hs] == [0.1, 0.5] and [h.config["seed"] for h in hs] == [1, 2]


@pytest.mark.parametrize("h", [-1e-4, 0.0, float("nan")])
@pytest.mark.parametrize("method", ["incremental", "batched", "loop"])
def test_h_has_one_rule_in_every_numerical_gradient(h, method):
    net = TwoLayerNet(4, 3, 2, seed=0)
    with pytest.raises(ValueError, match="h must be a positive number"):
        net.numerical_gradient(np.ones((2, 4)), np.array([0, 1]), method=method, h=h)


@pytest.mark.parametrize(
    "dtype,normalize", [("int8", False), ("bool", False), ("int16", False), ("uint8", True), ("bogus", False)]
)
def test_loader_dtype_must_hold_the_pixels(dtype, normalize):
    from xpnet.datasets import load_mnist_t10k

    with pytest.raises(ValueError, match="dtype must be"):
        load_mnist_t10k(normalize=normalize, dtype=dtype)


def test_loader_dtype_uint8_and_floats_keep_every_pixel():
    from xpnet.datasets import load_mnist_t10k

    (x8, _), _ = load_mnist_t10k(normalize=False, dtype="uint8", backend="numpy")
    (x16, _), _ = load_mnist_t10k(normalize=False, dtype="float16", backend="numpy")
    assert x8.max() == 255 and x16.max() == 255.0 and np.array_equal(x8, x16.astype(np.uint8))


# ------------------------------------------------------------------ files that inflate


def test_a_gz_that_inflates_past_its_size_is_never_inflated_whole(tmp_path):
    """A 4 MB file of the right name that would inflate to far more than MNIST's training images is
    refused after reading its known size plus one byte."""
    from xpnet.datasets import IDX_BYTES, DatasetError
    from xpnet.datasets.idx import read_bytes

    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        block = bytes(2**20)
        for _ in range(200):  # 200 MB of zeros, a few hundred KB on disk
            fh.write(block)
    assert bomb.stat().st_size < 2**20
    with pytest.raises(DatasetError, match="holds more than the 47,040,016 bytes"):
        read_bytes(bomb, IDX_BYTES["train_images"])


def test_auto_falls_back_when_a_placed_file_inflates_too_far(tmp_path):
    """``xpnet train --dataset auto`` with a bomb in place of the training images trains on the
    bundled digits, with a notice, and exits 0."""
    import shutil

    from xpnet.datasets import BUNDLED_DIR
    from xpnet.datasets.idx import write_idx

    root = tmp_path / "data" / "mnist"
    root.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(BUNDLED_DIR / name, root / name)
    write_idx(root / "train-labels-idx1-ubyte.gz", np.zeros(60_000, dtype=np.uint8))
    with gzip.open(root / "train-images-idx3-ubyte.gz", "wb") as fh:
        block = bytes(2**20)
        for _ in range(100):
            fh.write(block)
    env = dict(_env(), XPNET_DATA_DIR=str(tmp_path / "data"), KERAS_HOME=str(tmp_path / "keras"))
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "xpnet",
            "train",
            "--iters",
            "5",
            "--hidden",
            "4",
            "--no-plots",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "notice: MNIST's training images are not available" in run.stderr
    assert "data: mnist-t10k" in run.stdout


def test_a_dask_cluster_gets_the_data_scattered_once():
    distributed = pytest.importorskip("distributed", reason="Dask's distributed: pip install '.[dask]'")
    import warnings

    x, t = _data()
    here = [TwoLayerNet(16, 10, 4, seed=i) for i in range(4)]
    h_here = xpnet.fit_many(here, x, t, lr=0.5, seed=[1, 2, 3, 4], iters=30, batch_size=20)
    with distributed.Client(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as client:
        scattered = []
        real = client.scatter

        def scatter(data, **kwargs):
            scattered.append((len(data), kwargs.get("broadcast")))
            return real(data, **kwargs)

        client.scatter = scatter
        there = [TwoLayerNet(16, 10, 4, seed=i) for i in range(4)]
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # Dask's "Sending large graph" would fail here
            h_there = xpnet.fit_many(
                there,
                x,
                t,
                lr=0.5,
                seed=[1, 2, 3, 4],
                iters=30,
                batch_size=20,
                executor=client.get_executor(),
                shards=2,
            )
    assert scattered == [(2, True)]  # x and t, once, to every worker
    for a, b, ha, hb in zip(here, there, h_here, h_there):
        np.testing.assert_array_equal(a.params["W1"], b.params["W1"])
        assert ha.loss == hb.loss


def test_unaligned_host_arrays_are_aligned_once():
    buf = np.zeros(8 * 1000 + 1, dtype=np.uint8)[1:].view(np.float64).reshape(100, 10)  # as a worker may hold
    assert not buf.flags.aligned
    a = xpnet.asarray(buf, backend="numpy")
    assert a.flags.aligned and np.array_equal(a, buf)


_OWNING = """
import sys, time
from xpnet.sweep.transport import _owned_folder
with _owned_folder() as folder:
    print(folder, flush=True)
    time.sleep(120)
"""


def test_a_killed_sweeps_shared_data_is_removed_by_the_next_sweep(tmp_path):
    """SIGKILL leaves its xpnet-sweep-* folder in TMPDIR; the next sweep removes it, not a live one's."""
    from xpnet.sweep.transport import remove_abandoned

    env = {**_env(), "TMPDIR": str(tmp_path)}
    live = subprocess.Popen([sys.executable, "-c", _OWNING], stdout=subprocess.PIPE, text=True, env=env)
    dead = subprocess.Popen([sys.executable, "-c", _OWNING], stdout=subprocess.PIPE, text=True, env=env)
    try:
        live_folder, dead_folder = live.stdout.readline().strip(), dead.stdout.readline().strip()
        (pathlib.Path(dead_folder) / "0.npy").write_bytes(b"x" * 1000)
        dead.send_signal(signal.SIGKILL)
        dead.wait(timeout=30)
        assert os.path.isdir(dead_folder)  # what SIGKILL leaves
        assert remove_abandoned(str(tmp_path)) == [dead_folder]
        assert not os.path.exists(dead_folder) and os.path.isdir(live_folder)
    finally:
        live.kill()
        live.wait(timeout=30)
    assert remove_abandoned(str(tmp_path)) == [live_folder]


_FULL = """
import resource, signal
import numpy as np
from xpnet.sweep import transport
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    with transport.shared(transport.ProcessShards(1), [np.zeros(100_000)]):
        pass
except OSError as exc:
    print(exc)
"""


def test_tmpdir_without_room_is_one_error_naming_the_file(tmp_path):
    run = subprocess.run([sys.executable, "-c", _FULL], capture_output=True, text=True, timeout=60,
                         env={**_env(), "TMPDIR": str(tmp_path)})  # fmt: skip
    assert run.returncode == 0, run.stderr
    line = run.stdout.strip()
    assert line.startswith("could not write the sweep's shared data ") and "0.npy" in line and "TMPDIR" in line
    assert os.listdir(tmp_path) == []  # the folder it made is gone too
