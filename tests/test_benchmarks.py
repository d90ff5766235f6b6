"""The benchmark scripts run in their smoke mode (tiny sizes; no timing is asserted)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(script, tmp_path, *args):
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("XPNET_BACKEND", None)
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", script), "--smoke", "--out-dir", str(tmp_path), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_train_speed_smoke(tmp_path):
    run = _run("train_speed.py", tmp_path, "--no-gpu")
    assert run.returncode == 0, run.stderr
    assert "vs book" in run.stdout and "xpnet-numpy" in run.stdout
    data = json.loads((tmp_path / "train_speed.json").read_text())
    impls = {r["impl"] for r in data["rows"]}
    assert {"book", "xpnet-numpy"} <= impls
    assert all(r["it_s"] > 0 and r["iters"] == 20 for r in data["rows"])
    assert (tmp_path / "train_speed.png").read_bytes()[:4] == b"\x89PNG"


def test_scaling_smoke(tmp_path):
    run = _run("scaling.py", tmp_path)
    assert run.returncode == 0, run.stderr
    assert "xpnet/torch" in run.stdout
    data = json.loads((tmp_path / "scaling.json").read_text())
    assert {(r["impl"], r["hidden"]) for r in data["rows"] if r["dtype"] == "float64"} >= {
        ("xpnet-numpy", 8),
        ("xpnet-numpy", 16),
    }
    assert all(r["it_s"] > 0 for r in data["rows"])
    assert (tmp_path / "scaling.png").read_bytes()[:4] == b"\x89PNG"


def test_numgrad_speed_smoke(tmp_path):
    run = _run("numgrad_speed.py", tmp_path, "--no-gpu")
    assert run.returncode == 0, run.stderr
    data = json.loads((tmp_path / "numgrad_speed.json").read_text())
    methods = {r["method"] for r in data["rows"]}
    assert methods == {"book loop", "xpnet loop", "batched", "incremental"}
    assert all(r.get("max_rel_vs_backprop", 0) < 1e-6 for r in data["rows"])


def test_sweep_speed_smoke(tmp_path):
    run = _run("sweep_speed.py", tmp_path, "--workers", "1")
    assert run.returncode == 0, run.stderr
    data = json.loads((tmp_path / "sweep_speed.json").read_text())
    assert data["methods"][:3] == ["sequential", "stacked", "pool"]
    rows = data["rows"]
    assert [r["K"] for r in rows] == [1, 2] and all(r[m] > 0 for r in rows for m in data["methods"])
    if "jax.vmap" in data["methods"]:  # the peer trains the same nets on the same batches
        assert all(r["jax.vmap_loss_diff"] < 1e-6 for r in rows)
    assert (tmp_path / "sweep_speed.png").read_bytes()[:4] == b"\x89PNG"


def test_gpu_session_dry_run_lists_the_check_most_important_first():
    run = subprocess.run(
        ["bash", os.path.join(ROOT, "benchmarks", "gpu_session.sh"), "--dry-run"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    steps = [line.split()[0] for line in lines[:-1]]
    assert steps == ["versions", "headline", "gpu-tests", "suite-cupy", "train-speed", "sweep-speed"]
    limits = [int(line.split()[1].rstrip("s")) for line in lines[:-1]]
    assert all(limit > 0 for limit in limits) and sum(limits) <= 420  # under 7 minutes, all steps killed at worst
    assert lines[-1] == f"total time limit: {sum(limits)}s"
    for line in lines[:-1]:
        assert f"log: OUTDIR/{line.split()[0]}.log" in line
    assert "-x" not in lines[2].split() and "(gpu)" in lines[1]  # no step stops at its first failure
    for script in ("gpu_headline.sh", "train_speed.py", "sweep_speed.py", "gpu_setup.sh", "gpu_wheels.sh"):
        assert os.path.exists(os.path.join(ROOT, "benchmarks", script))
    headline = open(os.path.join(ROOT, "benchmarks", "gpu_headline.sh")).read()
    assert "--backend cupy --plain" in headline and "--backend numpy" in headline and "examples/train.py" in headline


def test_the_gpu_check_rehearsed_on_this_cpu_reaches_every_step(tmp_path):
    """benchmarks/gpu_rehearsal.sh: the GPU image's packages in a fresh venv, the carried wheels, then
    gpu_session.sh as on the GPU machine; every step reached, each ok or "needs a GPU"."""
    out = tmp_path / "rehearsal"
    run = subprocess.run(
        ["bash", os.path.join(ROOT, "benchmarks", "gpu_rehearsal.sh"), str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=540,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = (out / "summary.txt").read_text().splitlines()
    assert [line.split(":")[0] for line in summary] == [
        "step versions", "step headline", "step gpu-tests", "step suite-cupy", "step train-speed", "step sweep-speed"
    ]  # fmt: skip
    assert summary[0].startswith("step versions: ok")
    assert all(": ok " in line or ": needs a GPU" in line for line in summary)
    headline = (out / "headline.log").read_text()
    assert headline.startswith("needs a GPU") or "headline:" in headline
