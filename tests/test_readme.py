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
    got = run.stdout.splitlines()
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want):
        if re.match(r"(W1|b1|W2|b2) ", w):  # gradient-check rows: differences of ~1e-12, so the exponents
            exps = lambda line: [v.split("e")[1] for v in line.split()[1:]]  # noqa: E731
            assert g.split()[0] == w.split()[0] and exps(g) == exps(w), (g, w)
        else:
            assert g == w
    assert not [p for p in os.listdir(tmp_path)]  # the example writes nothing
