"""The README's library example prints what the README says it prints."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _blocks():
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text.split("## The library", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    output = re.search(r"<!-- readme-output -->\n```\n(.*?)```", section, re.S).group(1)
    return code, output.splitlines()


def test_readme_library_example(tmp_path):
    code, want = _blocks()
    env = dict(os.environ)
    env.pop("XPNET_BACKEND", None)
    env.pop("MPLBACKEND", None)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == want  # as printed, every line (the table prints bounds: the same anywhere)
    assert not [p for p in os.listdir(tmp_path)]  # the example writes nothing


def _run_block(code, tmp_path):
    env = dict(os.environ)
    env.pop("XPNET_BACKEND", None)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_readme_fit_many_example(tmp_path):
    """The sweep section's library block prints the list its comment shows."""
    section = open(os.path.join(ROOT, "README.md")).read().split("## Many nets at once", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    want = re.search(r"print\(.*\)\s+# (\[.*\])", code).group(1)
    assert _run_block(code, tmp_path).strip() == want
