"""The reference site: every public name documented from its docstring, every page built."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

import xpnet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_reference_page_lists_every_public_name():
    text = open(os.path.join(ROOT, "docs", "reference.md")).read()
    documented = {m.split(".")[-1] for m in re.findall(r"^::: ([\w.]+)$", text, re.M)}
    assert documented == set(xpnet.__all__)


def test_every_page_is_in_the_navigation():
    nav = open(os.path.join(ROOT, "mkdocs.yml")).read()
    pages = sorted(p for p in os.listdir(os.path.join(ROOT, "docs")) if p.endswith((".md", ".ipynb")))
    assert [p for p in pages if f": {p}" not in nav] == []


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    pytest.importorskip("mkdocs", reason="the site needs mkdocs: pip install '.[docs]'")
    pytest.importorskip("mkdocstrings", reason="the site needs mkdocstrings: pip install '.[docs]'")
    pytest.importorskip("mkdocs_jupyter", reason="the site needs mkdocs-jupyter: pip install '.[docs]'")
    work = tmp_path / "tree"  # a copy, so the build's cache lands there
    shutil.copytree(ROOT, work, ignore=shutil.ignore_patterns(".git", ".cache", "site", "runs", "*.egg-info"))
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        capture_output=True, text=True, cwd=work, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    reference = (tmp_path / "site" / "reference" / "index.html").read_text()
    for name in xpnet.__all__:
        assert re.search(rf'id="xpnet\.([\w.]+\.)?{name}"', reference), name
    chapter = (tmp_path / "site" / "chapter4" / "index.html").read_text()
    assert chapter.count("<img") >= 6  # the notebook rendered with its figures
    assert "Reliability" in (tmp_path / "site" / "index.html").read_text()
