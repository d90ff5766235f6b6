"""The package's layout: arrows one way, backends below the math, importlib in one place.

Read from the source (the AST), so a loop hidden in a function body or behind a module name
written as a string is still seen. Folder level: each first-level sub-package is one node.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "src" / "xpnet"
FILES = sorted(ROOT.rglob("*.py"))


def _name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(f): f for f in FILES}


def _known(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(node: ast.AST, me: str, package: str) -> list[str]:
    """The xpnet modules one AST node imports: statements, and strings naming a module."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        base = package.split(".")[: len(package.split(".")) - (node.level - 1)] if node.level else []
        prefix = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
        return [prefix] + [f"{prefix}.{a.name}" for a in node.names]
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("xpnet."):
        return [node.value] if node.value in MODULES else []  # e.g. the registry's package names
    return []


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for me, path in MODULES.items():
        package = me if path.name == "__init__.py" else me.rpartition(".")[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for target in _targets(node, me, package):
                known = _known(target)
                # a package's __init__ re-exporting its children makes no loop with them
                if known and known != me and not me.startswith(known + "."):
                    found.add(known)
        graph[me] = found
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def _folder(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def test_the_cycle_finder_finds_a_loop():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_loops_between_modules_strings_included():
    assert _cycles(_graph()) == []


def test_no_import_loops_between_folders():
    folders: dict[str, set[str]] = {}
    for module, targets in _graph().items():
        folders.setdefault(_folder(module), set()).update(_folder(t) for t in targets if _folder(t) != _folder(module))
    assert _cycles(folders) == []


def test_backends_sit_below_the_math_and_import_none_of_it():
    allowed = ("xpnet.backend", "xpnet.constants", "xpnet._typing")
    graph = _graph()
    wrong = {
        m: sorted(t for t in targets if not t.startswith(allowed))
        for m, targets in graph.items()
        if m.startswith("xpnet.backend")
    }
    assert {m: t for m, t in wrong.items() if t} == {}
    # and the math reaches a backend package only through the registry, never by importing it
    named = [
        m
        for m in graph
        if m.count(".") == 2
        and m.startswith("xpnet.backend.")
        and m not in ("xpnet.backend.base", "xpnet.backend.registry")
    ]
    assert len(named) >= 5
    importers = {m for m, targets in graph.items() if set(named) & targets and not m.startswith("xpnet.backend")}
    assert importers == set()


def test_importlib_loads_xpnet_modules_in_one_place_only():
    """Only the registry loads a module by name: one import site that runs upward (at most 2 allowed)."""
    sites = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                called = getattr(node.func, "attr", getattr(node.func, "id", ""))
                arg = node.args[0] if node.args else None
                third_party = (
                    isinstance(arg, ast.Constant)
                    and isinstance(arg.value, str)
                    and not arg.value.startswith(("xpnet", "."))
                )
                if called in ("import_module", "__import__") and not third_party:
                    sites.append(module)
    assert sites == ["xpnet.backend.registry"]


def test_importing_the_math_loads_no_backend_package():
    code = (
        "import sys, xpnet, xpnet.functions, xpnet.nets, xpnet.steps, xpnet.gradient\n"
        "print(sorted(m for m in sys.modules if m.startswith('xpnet.backend.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # lean_numpy: how array-api-compat's NumPy namespace is imported (plain NumPy arrays' namespace)
    assert out.strip() == "['xpnet.backend.base', 'xpnet.backend.lean_numpy', 'xpnet.backend.registry']"


def _code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    total = (node.end_lineno or node.lineno) - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        total -= (first.end_lineno or first.lineno) - first.lineno + 1
    return total


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_functions_stay_under_60_lines_and_modules_under_550(path):
    """Lines of code, from the signature to the end, less the docstring."""
    tree = ast.parse(path.read_text())
    long = [
        f"{node.name}: {_code_lines(node)} lines"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _code_lines(node) > 60
    ]
    assert long == []
    assert len(path.read_text().splitlines()) <= 550  # datasets/__init__.py is the largest (about 540)


def test_each_module_says_what_it_is_on_its_first_line():
    missing = [m for m, path in MODULES.items() if not (ast.get_docstring(ast.parse(path.read_text())) or "").strip()]
    assert missing == []
