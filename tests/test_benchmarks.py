"""The benchmark scripts run in their smoke mode (tiny sizes; no timing is asserted)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(script, tmp_path, *args):
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("XPNET_BACKEND", None)
    return subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), "--smoke", "--out-dir",
                           str(tmp_path), *args], capture_output=True, text=True, env=env, timeout=600)


def test_train_speed_smoke(tmp_path):
    run = _run("train_speed.py", tmp_path, "--no-gpu")
    assert run.returncode == 0, run.stderr
    assert "vs book" in run.stdout and "xpnet-numpy" in run.stdout
    data = json.loads((tmp_path / "train_speed.json").read_text())
    impls = {r["impl"] for r in data["rows"]}
    assert {"book", "xpnet-numpy"} <= impls
    assert all(r["it_s"] > 0 and r["iters"] == 20 for r in data["rows"])
    assert (tmp_path / "train_speed.png").read_bytes()[:4] == b"\x89PNG"


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
