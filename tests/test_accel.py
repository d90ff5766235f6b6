"""The acceleration boundary, checked without a GPU:

* every CUDA kernel's source compiles with NVRTC for sm_80 and sm_90 (a slip fails CI);
* the fused compositions of ``accel/cupy/fused.py``, run with reference kernels written from
  the Array-API formulas, equal the Array-API functions they replace;
* the one convention: a replacement returning ``NotImplemented`` leaves the Array-API code to run.
"""

import copy
import importlib.util
import os
import pathlib

import numpy as np
import pytest

import xpnet
from xpnet import accel
from xpnet.accel.cupy import fused, sources
from xpnet.nets import PARAM_NAMES, loss_and_gradient
from xpnet.incremental_numgrad import Point, hidden_gradient, output_gradient, w1_gradient
from xpnet.steps import sgd_step

import reference_kernels

NVRTC = importlib.util.find_spec("cuda") is not None and importlib.util.find_spec("cuda.bindings") is not None
# CI installs NVRTC ('.[test]'); there a missing NVRTC is a failure, not a skip
needs_nvrtc = pytest.mark.skipif(not NVRTC and not os.environ.get("CI"),
                                 reason="NVRTC (cuda-bindings, nvidia-cuda-nvrtc) not installed: pip install '.[test]'")


# ------------------------------------------------------------------ NVRTC

def _elementwise_source(spec):
    """A kernel equivalent to what cupy.ElementwiseKernel generates for ``spec`` (T = double/float):
    inputs read as values, outputs as references, raw arrays as pointers, ``i`` the index."""
    in_params, out_params, operation, name = spec
    params, loads = [], []
    for p in [q.strip() for q in in_params.split(",")]:
        words = p.split()
        raw = words[0] == "raw"
        ctype, var = (words[1], words[2]) if raw else (words[0], words[1])
        ctype = {"int64": "long long", "int32": "int"}.get(ctype, ctype)
        if raw:
            params.append(f"const {ctype}* {var}")
        elif ctype == "T":
            params.append(f"const T* _in_{var}")
            loads.append(f"const T {var} = _in_{var}[i];")
        else:
            params.append(f"const {ctype} {var}")
    for p in [q.strip() for q in out_params.split(",")]:
        ctype, var = p.split()
        params.append(f"T* _out_{var}")
        loads.append(f"T& {var} = _out_{var}[i];")
    body = " ".join(loads)
    return (f'extern "C" __global__ void {name}({", ".join(params)}, long long _n) {{\n'
            f"  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < _n;"
            f" i += (long long)blockDim.x * gridDim.x) {{ {body} {operation} }}\n}}\n")


def _all_sources():
    out = {"raw module": sources.RAW_MODULE}
    for spec in (sources.SIGMOID, sources.BIAS_SIGMOID):
        for t in ("double", "float"):
            out[f"{spec[3]} ({t})"] = f"typedef {t} T;\n" + sources.PRE + _elementwise_source(spec)
    return out


def _compile(code, arch):
    from cuda.bindings import nvrtc
    err, prog = nvrtc.nvrtcCreateProgram(code.encode(), b"xpnet.cu", 0, [], [])
    assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS
    opts = [f"--gpu-architecture={arch}".encode(), b"--std=c++14"]
    (err,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
    _, size = nvrtc.nvrtcGetProgramLogSize(prog)
    log = b" " * size
    nvrtc.nvrtcGetProgramLog(prog, log)
    nvrtc.nvrtcDestroyProgram(prog)
    return err == nvrtc.nvrtcResult.NVRTC_SUCCESS, log.decode(errors="replace").strip("\x00 \n")


@needs_nvrtc
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_every_kernel_compiles_with_nvrtc(arch):
    for name, code in _all_sources().items():
        ok, log = _compile(code, arch)
        assert ok, f"{name} does not compile for {arch}:\n{log}"


@needs_nvrtc
def test_a_slip_in_a_kernel_fails_to_compile():
    broken = sources.RAW_MODULE.replace("T sum = warp_sum(e);", "T sum = warp_sum(ee);")
    assert broken != sources.RAW_MODULE
    ok, log = _compile(broken, "sm_90")
    assert not ok and "ee" in log
    spec = (sources.SIGMOID[0], sources.SIGMOID[1], "y = sigmoid(x);", "broken")  # sigmoid_ is the name
    ok, _ = _compile("typedef double T;\n" + sources.PRE + _elementwise_source(spec), "sm_90")
    assert not ok


def test_every_raw_kernel_is_instantiated_and_named():
    for name in sources.RAW_KERNELS:
        for suffix in ("f64", "f32"):
            assert f"{name}_##S" in sources.RAW_MODULE or f"{name}_{suffix}" in sources.RAW_MODULE
        assert name in sources.REPLACES
    assert set(sources.REPLACES) == set(sources.RAW_KERNELS) | {sources.SIGMOID[3], sources.BIAS_SIGMOID[3]}


# ------------------------------------------------------------------ fused compositions

FUSED = fused.replacements(reference_kernels)


def _problem(seed=0, n=20, d=12, hidden=7, c=5, dtype="float64"):
    rng = np.random.default_rng(seed)
    net = xpnet.TwoLayerNet(d, hidden, c, seed=seed, weight_init_std=0.5, dtype=dtype, backend="numpy")
    x = rng.random((n, d)).astype(dtype)
    x[x < 0.3] = 0  # some zero inputs, like MNIST's pixels
    t = np.eye(c, dtype=dtype)[rng.integers(0, c, n)]
    return net.params, x, t


def test_fused_pass_equals_the_book_pass():
    params, x, t = _problem()
    xp = xpnet.get_namespace("numpy")
    loss_a, grads_a = loss_and_gradient.array_api(params, x, t, xp=xp)
    loss_f, grads_f = FUSED[loss_and_gradient](params, x, t, xp=xp)
    assert float(loss_f) == pytest.approx(float(loss_a), rel=1e-14)
    assert list(grads_f) == list(PARAM_NAMES)
    for k in PARAM_NAMES:
        np.testing.assert_allclose(grads_f[k], grads_a[k], rtol=1e-12, atol=1e-15)


def test_fused_step_equals_the_array_api_step():
    params, x, t = _problem(1)
    xp = xpnet.get_namespace("numpy")
    a, f = copy.deepcopy(params), copy.deepcopy(params)
    rng = np.random.default_rng(3)
    for _ in range(5):
        idx = rng.integers(0, x.shape[0], 8)
        la = sgd_step.array_api(a, x, t, idx, 0.5, xp=xp)
        lf = FUSED[sgd_step](f, x, t, idx, 0.5, xp=xp)
        assert float(lf) == pytest.approx(float(la), rel=1e-13)
    for k in PARAM_NAMES:
        np.testing.assert_allclose(f[k], a[k], rtol=1e-12, atol=1e-15)
        assert not np.array_equal(f[k], params[k])  # it did train


def test_fused_numerical_gradients_equal_the_array_api_ones():
    params, x, t = _problem(2)
    xp = xpnet.get_namespace("numpy")
    point = Point(xp, params, x, t)
    h = 1e-4
    ones = np.ones((1, x.shape[0]))
    np.testing.assert_allclose(FUSED[hidden_gradient](point, ones, h, xp=xp),
                               hidden_gradient.array_api(point, ones, h, xp=xp), rtol=1e-7, atol=1e-11)
    for rows in (1, 5, 12):
        np.testing.assert_allclose(FUSED[w1_gradient](point, h, rows, xp=xp),
                                   w1_gradient.array_api(point, h, rows, xp=xp), rtol=1e-7, atol=1e-11)
    for got, want in zip(FUSED[output_gradient](point, h, xp=xp),
                         output_gradient.array_api(point, h, xp=xp)):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-11)


def test_fused_compositions_decline_what_their_kernels_decline():
    xp = xpnet.get_namespace("numpy")
    params, x, t = _problem(c=40)  # more than 32 classes: no softmax kernel
    assert FUSED[loss_and_gradient](params, x, t, xp=xp) is NotImplemented
    before = copy.deepcopy(params)
    assert FUSED[sgd_step](params, x, t, np.arange(4), 0.1, xp=xp) is NotImplemented
    for k in PARAM_NAMES:  # declining left the parameters alone
        assert np.array_equal(params[k], before[k])
    soft = np.full((x.shape[0], 40), 1 / 40)
    point = Point(xp, params, x, soft)
    assert FUSED[w1_gradient](point, 1e-4, 4, xp=xp) is NotImplemented
    assert FUSED[output_gradient](point, 1e-4, xp=xp) is NotImplemented


# ------------------------------------------------------------------ the one convention

class _Fake:
    """A backend whose replacement of sigmoid declines negative inputs and marks what it computes."""

    def __init__(self):
        self.calls = 0

    @property
    def REPLACEMENTS(self):
        def sigmoid(x):
            self.calls += 1
            if float(xpnet.to_numpy(x).min()) < 0:
                return NotImplemented
            return x * 0 + 42.0
        return {xpnet.functions.sigmoid_of: sigmoid}


def test_replacement_used_declined_or_switched_off(monkeypatch):
    import array_api_strict as xps
    fake = _Fake()
    monkeypatch.setitem(accel.registry._apis, "array_api_strict", fake)
    monkeypatch.setitem(accel.contract._tables, "array_api_strict", fake.REPLACEMENTS)
    pos, neg = xps.asarray([1.0, 2.0]), xps.asarray([-1.0, 2.0])
    assert np.all(xpnet.to_numpy(xpnet.sigmoid(pos)) == 42.0)  # replaced
    np.testing.assert_allclose(xpnet.to_numpy(xpnet.sigmoid(neg)), 1 / (1 + np.exp([1.0, -2.0])))  # declined
    with accel.accelerated(False):
        np.testing.assert_allclose(xpnet.to_numpy(xpnet.sigmoid(pos)), 1 / (1 + np.exp([-1.0, -2.0])))
    assert fake.calls == 2  # not asked at all when switched off
    assert accel.replacement(xpnet.functions.sigmoid_of, "array_api_strict") is not None
    assert accel.replacement(xpnet.functions.sigmoid_of, "jax") is None  # JAX fuses by itself


def test_policies_on_the_host():
    xp = xpnet.get_namespace("numpy")
    assert accel.chunk_size(xp, 1024, host_bytes=10 * 1024) == 10
    assert accel.chunk_size(xp, 1024, cap=3, host_bytes=10 * 1024) == 3
    assert accel.chunk_size(xp, 10**12) == 1
    assert accel.parallel_map(xp, lambda i: i * i, range(6)) == [0, 1, 4, 9, 16, 25]
    with accel.device_scope(xp) as scope:
        assert scope is None
    assert accel.stepper(xp, None, {}, (), "auto") is None  # NumPy has no stepper: fit runs its steps


def test_math_modules_name_no_backend():
    """The boundary holds all backend knowledge: the math modules name none."""
    import re
    src = pathlib.Path(xpnet.__file__).parent
    for name in ("functions", "gradient", "nets", "incremental_numgrad", "steps", "runloop", "history", "train",
                 "sweep"):
        text = (src / f"{name}.py").read_text()
        code = "\n".join(line for line in text.splitlines() if not line.strip().startswith("#"))
        hits = re.findall(r"cupy|memGetInfo|\bStream\(|[!=]= *\"(?:numpy|cupy|torch|jax|array_api_strict)\"|"
                          r"ThreadPoolExecutor|import torch", code)
        assert not hits, (name, hits)


def test_backend_module_asks_the_backend_packages():
    """``backend.py`` names backends in its documentation only: the libraries are the packages' business."""
    import re
    text = (pathlib.Path(xpnet.__file__).parent / "backend.py").read_text()
    assert not re.findall(r"import (?:cupy|torch|jax)|is_(?:cupy|torch|jax)_|getDeviceProperties|cupy\.cuda", text)


def test_the_command_line_names_no_library():
    """``xpnet info`` asks each backend package to describe its library: the cli names none."""
    import re
    for path in (pathlib.Path(xpnet.__file__).parent / "cli").glob("*.py"):
        code = "\n".join(line for line in path.read_text().splitlines() if not line.strip().startswith("#"))
        assert not re.findall(r"\b(?:cupy|torch|jax)\b", code), path.name


def test_no_import_loops():
    import ast
    src = pathlib.Path(xpnet.__file__).parent
    modules = {}
    for path in src.rglob("*.py"):
        rel = path.relative_to(src.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    graph = {}
    for mod, path in modules.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")
                if node.level:
                    base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
                names = [prefix] + [f"{prefix}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name and name != mod and not mod.startswith(name + "."):
                    deps.add(name)
        graph[mod] = deps

    def reaches(start, goal, seen):
        for nxt in graph[start]:
            if nxt == goal or (nxt not in seen and (seen.add(nxt) or reaches(nxt, goal, seen))):
                return True
        return False
    loops = [m for m in graph if reaches(m, m, set())]
    assert not loops, loops


def test_loaded_library_is_read_from_the_memory_map(tmp_path):
    from xpnet.accel.cupy.loader import loaded_library
    maps = tmp_path / "maps"
    maps.write_text(
        "7f0000000000-7f0000001000 r-xp 00000000 08:01 42   /usr/lib/libc.so.6\n"
        "7f0000002000-7f0000003000 r-xp 00000000 08:01 43   /opt/venv/nvidia/cublas/lib/libcublas.so.13\n"
        "7f0000004000-7f0000005000 r-xp 00000000 08:01 44   /usr/lib/libcublasLt.so.12\n"
        "7ffd00000000-7ffd00001000 rw-p 00000000 00:00 0    [stack]\n")
    assert loaded_library("libcublas.so", maps=str(maps)) == "/opt/venv/nvidia/cublas/lib/libcublas.so.13"
    assert loaded_library("libcudart.so", maps=str(maps)) is None
    assert loaded_library("libcublas.so", maps=str(tmp_path / "missing")) is None
    assert loaded_library("libc.so") is not None or not os.path.exists("/proc/self/maps")  # this process


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("soft", [False, True])
def test_numpy_pass_is_the_array_api_pass_to_the_bit(dtype, soft):
    """The NumPy replacement (in-place ufuncs) computes the same operations in the same order."""
    from xpnet.accel.numpy.api import loss_and_gradient as numpy_pass
    for seed in range(3):
        params, x, t = _problem(seed, n=37, d=29, hidden=11, c=7, dtype=dtype)
        params = {k: v * 40 for k, v in params.items()}  # large scores: both overflow guards at work
        if soft:
            t = np.asarray(np.random.default_rng(seed).dirichlet(np.ones(7), 37), dtype=dtype)
        xp = xpnet.get_namespace("numpy")
        for with_loss in (True, False):
            want = loss_and_gradient.array_api(params, x, t, xp=xp, with_loss=with_loss)
            got = numpy_pass(params, x, t, xp=xp, with_loss=with_loss)
            assert (got[0] is None) == (want[0] is None) and (want[0] is None or got[0] == want[0])
            for k in PARAM_NAMES:
                assert got[1][k].dtype == want[1][k].dtype and np.array_equal(got[1][k], want[1][k]), (k, seed)
    assert accel.replacement(loss_and_gradient, "numpy") is numpy_pass
    assert numpy_pass(params, x.astype(np.float32 if dtype == "float64" else np.float64), t) is NotImplemented


# ------------------------------------------------------------------ the contract

def _replacement_tables():
    """Every backend's replacements that can be built on a CPU: NumPy's and JAX's as registered, and
    CuPy's compositions (its api.py registers ``fused.replacements(kernels)``) with reference kernels."""
    from xpnet.accel.jax import api as jax_api
    from xpnet.accel.numpy import api as numpy_api
    return {"numpy": numpy_api.REPLACEMENTS, "jax": jax_api.REPLACEMENTS, "cupy": FUSED}


def test_every_registered_replacement_matches_a_live_replaceable_function():
    import importlib
    tables = _replacement_tables()
    assert tables["numpy"] and tables["cupy"]  # something is registered, so the check below checks
    for backend, table in tables.items():
        for fn, impl in table.items():
            assert callable(impl) and hasattr(fn, "array_api"), (backend, fn)  # marked @replaceable
            live = getattr(importlib.import_module(fn.__module__), fn.__name__)
            assert live is fn, (backend, fn.__qualname__)  # the very object the math calls
    from xpnet import functions, nets, steps
    assert set(tables["cupy"]) >= {functions.sigmoid_of, nets.loss_and_gradient, steps.sgd_step}
    cupy_api = (pathlib.Path(xpnet.__file__).parent / "accel" / "cupy" / "api.py").read_text()
    assert "REPLACEMENTS = fused.replacements(kernels)" in cupy_api  # the table checked above is CuPy's


@pytest.mark.parametrize("name", sorted(xpnet.BACKENDS))
def test_every_backend_package_answers_the_library_hooks(name):
    from xpnet.accel import registry
    pkg = registry.package(name)
    for hook in ("load", "device_name", "synchronize", "describe", "to_numpy"):
        assert callable(getattr(pkg, hook, None)), (name, hook)
    api = registry.api(name) if name not in ("cupy",) else None  # CuPy's api.py imports CuPy
    for hook in (set(dir(api)) & set(accel.ACCELERATION_HOOKS)) if api else ():
        assert getattr(api, hook) is not None


def test_backend_of_maps_arrays_and_namespaces_with_one_function():
    import array_api_strict as xps
    import jax.numpy as jnp
    from xpnet.accel.registry import backend_of
    import array_api_compat.numpy as npx
    assert backend_of(np.zeros(2)) == backend_of(np) == backend_of(npx) == "numpy"
    assert backend_of(xps.asarray([1.0])) == backend_of(xps) == "array_api_strict"
    assert backend_of(jnp.zeros(2)) == backend_of(jnp) == "jax"
    assert backend_of(object()) is None


def test_the_steppers_declare_the_stepper_protocol():
    from xpnet.accel.contract import Stepper
    from xpnet.accel.jax.api import ScanStepper
    from xpnet.accel.numpy.api import MemberSteps
    from xpnet.runloop import Steps
    for cls in (Steps, MemberSteps, ScanStepper):
        assert Stepper in cls.__mro__  # declared, not only shaped alike
    graph = (pathlib.Path(xpnet.__file__).parent / "accel" / "cupy" / "graph.py").read_text()
    assert "class GraphStepper(Stepper):" in graph  # CuPy's, without importing CuPy
    assert isinstance(Steps(lambda i: i, np), Stepper)


@pytest.mark.parametrize("bad", [np.arange(3), np.ones(3, dtype=np.float16), "text"])
def test_checks_run_before_any_replacement(monkeypatch, bad):
    """A stand-in replacement of every replaceable function behind a public entry never sees bad input."""
    from xpnet.accel import registry
    from xpnet import functions, nets
    seen = []

    class StandIn:
        REPLACEMENTS = {functions.sigmoid_of: lambda *a, **k: seen.append("sigmoid") or NotImplemented,
                        nets.loss_and_gradient: lambda *a, **k: seen.append("pass") or NotImplemented}
    monkeypatch.setitem(registry._apis, "numpy", StandIn)
    monkeypatch.setitem(accel.contract._tables, "numpy", StandIn.REPLACEMENTS)
    with pytest.raises((TypeError, ValueError)):
        xpnet.sigmoid(bad)
    net = xpnet.TwoLayerNet(3, 2, 2, seed=0, backend="numpy")
    with pytest.raises((TypeError, ValueError)):
        net.gradient(bad, np.array([0]))
    assert seen == []
    xpnet.sigmoid(np.ones(3))  # good input does reach it
    net.gradient(np.ones((1, 3)), np.array([1]))
    assert seen == ["sigmoid", "pass", "sigmoid"]  # the pass declined: the Array-API pass ran (its sigmoid too)


def test_cublas_is_the_one_of_cupys_cuda_version(tmp_path):
    """PyTorch's CUDA-12 cuBLAS mapped before CuPy's CUDA-13 one: the map's order decides nothing."""
    from xpnet.accel.cupy.loader import cupy_cublas, loaded_libraries
    maps = tmp_path / "maps"
    maps.write_text(
        "7f0000000000-7f0000001000 r-xp 00000000 08:01 42   /venv/torch/lib/libcublas.so.12\n"
        "7f0000001000-7f0000002000 r--p 00001000 08:01 42   /venv/torch/lib/libcublas.so.12\n"
        "7f0000002000-7f0000003000 r-xp 00000000 08:01 43   /venv/nvidia/cu13/lib/libcublas.so.13.1.0.3\n"
        "7f0000004000-7f0000005000 r-xp 00000000 08:01 44   /venv/nvidia/cu13/lib/libcublasLt.so.13\n")
    assert loaded_libraries("libcublas.so", str(maps)) == ["/venv/torch/lib/libcublas.so.12",
                                                           "/venv/nvidia/cu13/lib/libcublas.so.13.1.0.3"]
    assert cupy_cublas(str(maps), runtime_version=13000) == "/venv/nvidia/cu13/lib/libcublas.so.13.1.0.3"
    assert cupy_cublas(str(maps), runtime_version=12080) == "/venv/torch/lib/libcublas.so.12"
    assert cupy_cublas(str(maps), runtime_version=11080) is None  # not the wrong one


# ------------------------------------------------------------------ the CUDA softmax's formula, on the CPU

def _softmax_loss_grad_kernel(scores, b, t, n, delta=1e-7):
    """``softmax_loss_grad`` of ``accel/cupy/sources.py`` written out in NumPy line for line: one row
    at a time as one warp does it (lane k = class k), sums in the warp's order of no consequence here."""
    dt = scores.dtype.type
    big = dt(np.finfo(scores.dtype).max)
    dy, lsum = np.zeros_like(scores), dt(0)
    for r in range(scores.shape[0]):
        v = scores[r] + b
        v = np.where(v > big, big, np.where(v < -big, -big, v))  # NaN fails both comparisons: kept
        m = np.max(v)  # a warp's maximum; a NaN lane makes the row's sum NaN below whatever m is
        h = np.exp(v / dt(2) - m / dt(2))
        e = h * h
        y = e / np.sum(e)
        yd = y + dt(delta)
        lsum += np.sum(t[r] * np.log(yd))
        s = t[r] * y / yd
        dy[r] = (y * np.sum(s) - s) / dt(n)
    return -lsum / dt(n), dy, np.sum(dy, axis=0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cuda_softmax_formula_handles_infinities_as_the_array_api_does(dtype):
    inf, nan = np.inf, np.nan
    huge = 1e308 if dtype == "float64" else 3e38
    scores = np.array([[inf, 0, 0], [-inf, -inf, -inf], [inf, inf, 1], [-inf, 2, 1], [huge, -huge, 0],
                       [nan, 0, 1], [3, 1, 2]], dtype=dtype)
    b = np.zeros(3, dtype=dtype)
    t = np.eye(3, dtype=dtype)[[0, 1, 0, 1, 2, 0, 2]]
    n = scores.shape[0]
    loss_k, dy_k, db_k = _softmax_loss_grad_kernel(scores, b, t, n)
    y = np.asarray(xpnet.softmax(scores))
    want_loss = -np.sum(t * np.log(y + xpnet.DELTA)) / n
    s = t * y / (y + xpnet.DELTA)
    want_dy = (y * np.sum(s, axis=1, keepdims=True) - s) / n
    finite_rows = ~np.isnan(scores).any(axis=1)
    np.testing.assert_allclose(dy_k[finite_rows], want_dy[finite_rows], rtol=1e-6, atol=1e-12)
    assert np.all(np.isfinite(dy_k[finite_rows])) and np.all(np.isnan(dy_k[~finite_rows]))
    assert np.isnan(loss_k) == np.isnan(want_loss)  # the NaN row makes both NaN
    # without the NaN row, the loss is finite in both and equal: [inf, 0, 0] gives 0.627 against NaN before
    keep = finite_rows
    loss_k2, _, _ = _softmax_loss_grad_kernel(scores[keep], b, t[keep], int(keep.sum()))
    want2 = -np.sum(t[keep] * np.log(y[keep] + xpnet.DELTA)) / keep.sum()
    assert np.isfinite(loss_k2) and loss_k2 == pytest.approx(want2, rel=1e-6)
    y0 = np.asarray(xpnet.softmax(scores[:1]))
    assert np.allclose(y0, [[1, 0, 0]]) and np.allclose(np.asarray(xpnet.softmax(scores[1:2])), 1 / 3)


def test_cuda_softmax_source_clips_and_halves():
    """The kernel text holds the formula the test above writes out (a change to one shows in the other)."""
    src = sources.RAW_MODULE
    assert "v = v > big ? big : (v < -big ? -big : v);" in src
    assert "T h = exp(v / (T)2 - m / (T)2);" in src and "T e = on ? h * h : (T)0;" in src
    assert "T e = on ? exp(v - m)" not in src


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_numpy_sigmoid_and_softmax_are_the_array_api_ones_value_for_value(dtype):
    """NumPy's replacements (the book's code calls sigmoid and softmax directly: every microsecond shows)
    give the Array-API functions' values exactly, extremes, zeros of both signs and NaN included."""
    from xpnet import functions
    from xpnet.accel.numpy import api
    dt = np.dtype(dtype)
    big = np.finfo(dt).max
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, big, -big, 700, -700, 100, -100, 1e-30, -1e-30], dtype=dt)
    rng = np.random.default_rng(0)
    for x in (rng.standard_normal((100, 50)).astype(dt) * 50, specials, specials.reshape(1, -1),
              rng.standard_normal((3, 4, 5)).astype(dt)):
        for f, impl in ((functions.sigmoid_of, api.sigmoid_of), (functions.softmax_of, api.softmax_of)):
            want, got = f.array_api(x), impl(x)
            assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True), f.__name__
    assert accel.replacement(functions.sigmoid_of, "numpy") is api.sigmoid_of
    assert accel.replacement(functions.softmax_of, "numpy") is api.softmax_of
    assert api.sigmoid_of(np.float64(1.0)) is NotImplemented and api.softmax_of(np.arange(3)) is NotImplemented
