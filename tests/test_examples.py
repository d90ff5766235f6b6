"""The chapter's figure scripts run headless and write PNGs."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize(
    "script,expect",
    [
        ("numerical_diff.py", "numerical_diff at x=5: 0.19999"),
        ("gradient_field.py", "324 gradients"),
        ("gradient_descent.py", "lr=10: final x = [-2.58983747e+13 -1.29524862e+12]"),
    ],
)
def test_figure_scripts(tmp_path, script, expect):
    out = tmp_path / "fig.png"
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # the scripts choose Agg themselves
    env.pop("DISPLAY", None)
    run = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", script), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert expect in run.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    assert sorted(os.listdir(tmp_path)) == ["fig.png"]


def test_figure_script_bad_out():
    run = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "numerical_diff.py"), "--out", "/proc/nope/fig.png"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "cannot be written" in run.stderr and "Traceback" not in run.stderr
