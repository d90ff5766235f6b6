"""The backends, checked without a GPU:

* every CUDA kernel's source compiles with NVRTC for sm_80 and sm_90 (a slip fails CI);
* CuPy's faster forms (``backend/cupy/fast.py``), run with reference kernels written from the
  Array-API formulas, equal the Array-API functions they stand for; NumPy's, to the bit;
* the one convention: a faster form returning ``NotImplemented`` leaves the Array-API code to run;
* the contract: every backend is a :class:`xpnet.backend.Backend`, one ``backend_of``, and a
  backend registered in a test (one package, one line) trains.
"""

import copy
import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import reference_kernels
import xpnet
from xpnet.backend import Backend, accelerated, backend_of, registry
from xpnet.backend.cupy import sources
from xpnet.backend.cupy.fast import FusedForms
from xpnet.constants import PARAM_NAMES
from xpnet.incremental_numgrad import Point, hidden_gradient, output_gradient, w1_gradient
from xpnet.nets import loss_and_gradient
from xpnet.steps import sgd_step


def plain(fn, *args, **kwargs):
    """``fn`` with every faster form off: its Array-API code."""
    with accelerated(False):
        return fn(*args, **kwargs)


NVRTC = importlib.util.find_spec("cuda") is not None and importlib.util.find_spec("cuda.bindings") is not None
# CI installs NVRTC ('.[all]'); there a missing NVRTC is a failure, not a skip
needs_nvrtc = pytest.mark.skipif(
    not NVRTC and not os.environ.get("CI"),
    reason="NVRTC (cuda-bindings, nvidia-cuda-nvrtc) not installed: pip install '.[nvrtc]'",
)


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
    return (
        f'extern "C" __global__ void {name}({", ".join(params)}, long long _n) {{\n'
        f"  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < _n;"
        f" i += (long long)blockDim.x * gridDim.x) {{ {body} {operation} }}\n}}\n"
    )


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

FUSED = FusedForms(reference_kernels)


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
    loss_a, grads_a = plain(loss_and_gradient, params, x, t, xp=xp)
    loss_f, grads_f = FUSED.loss_and_gradient(params, x, t, xp=xp)
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
        la = plain(sgd_step, a, x, t, idx, 0.5, xp=xp)
        lf = FUSED.sgd_step(f, x, t, idx, 0.5, xp=xp)
        assert float(lf) == pytest.approx(float(la), rel=1e-13)
    for k in PARAM_NAMES:
        np.testing.assert_allclose(f[k], a[k], rtol=1e-12, atol=1e-15)
        assert not np.array_equal(f[k], params[k])  # it did train


def test_fused_numerical_gradients_equal_the_array_api_ones():
    params, x, t = _problem(2)
    xp = xpnet.get_namespace("numpy")
    point = Point(xp, params, x, t, one_hot=True)
    h = 1e-4
    ones = np.ones((1, x.shape[0]))
    np.testing.assert_allclose(
        FUSED.hidden_gradient(point, ones, h, xp=xp),
        plain(hidden_gradient, point, ones, h, xp=xp),
        rtol=1e-7,
        atol=1e-11,
    )
    for rows in (1, 5, 12):
        np.testing.assert_allclose(
            FUSED.w1_gradient(point, h, rows, xp=xp), plain(w1_gradient, point, h, rows, xp=xp), rtol=1e-7, atol=1e-11
        )
    for got, want in zip(FUSED.output_gradient(point, h, xp=xp), plain(output_gradient, point, h, xp=xp)):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-11)


def test_fused_compositions_decline_what_their_kernels_decline():
    xp = xpnet.get_namespace("numpy")
    params, x, t = _problem(c=40)  # more than 32 classes: no softmax kernel
    assert FUSED.loss_and_gradient(params, x, t, xp=xp) is NotImplemented
    before = copy.deepcopy(params)
    assert FUSED.sgd_step(params, x, t, np.arange(4), 0.1, xp=xp) is NotImplemented
    for k in PARAM_NAMES:  # declining left the parameters alone
        assert np.array_equal(params[k], before[k])
    soft = np.full((x.shape[0], 40), 1 / 40)
    point = Point(xp, params, x, soft, one_hot=False)
    assert FUSED.w1_gradient(point, 1e-4, 4, xp=xp) is NotImplemented
    assert FUSED.output_gradient(point, 1e-4, xp=xp) is NotImplemented


# ------------------------------------------------------------------ the one convention


def _with(monkeypatch, backend):
    """``backend`` in the registry in place of the one of its name (the cache of who owns what emptied)."""
    monkeypatch.setattr(registry, "_cache", {backend.name: backend})


def test_faster_form_used_declined_or_switched_off(monkeypatch):
    """A faster form is used for its inputs, declines others (the Array-API code runs), and is never
    asked on the plain path."""
    import array_api_strict as xps

    from xpnet.backend.array_api_strict import ArrayApiStrict

    class Fake(ArrayApiStrict):
        calls = 0

        def sigmoid(self, x):
            Fake.calls += 1
            if float(xpnet.to_numpy(x).min()) < 0:
                return NotImplemented
            return x * 0 + 42.0

    _with(monkeypatch, Fake())
    pos, neg = xps.asarray([1.0, 2.0]), xps.asarray([-1.0, 2.0])
    assert np.all(xpnet.to_numpy(xpnet.sigmoid(pos)) == 42.0)  # used
    np.testing.assert_allclose(xpnet.to_numpy(xpnet.sigmoid(neg)), 1 / (1 + np.exp([1.0, -2.0])))  # declined
    with accelerated(False):
        np.testing.assert_allclose(xpnet.to_numpy(xpnet.sigmoid(pos)), 1 / (1 + np.exp([-1.0, -2.0])))
    assert Fake.calls == 2  # not asked at all when switched off
    assert type(registry.get("jax")).sigmoid is Backend.sigmoid  # JAX has none: XLA fuses by itself


def test_policies_on_the_host():
    numpy = registry.get("numpy")
    assert numpy.chunk_size(1024, host_bytes=10 * 1024) == 10
    assert numpy.chunk_size(1024, cap=3, host_bytes=10 * 1024) == 3
    assert numpy.chunk_size(10**12) == 1
    assert numpy.parallel_map(lambda i: i * i, range(6)) == [0, 1, 4, 9, 16, 25]
    with numpy.run_scope(None, step_flops=1.6e7, grad="backprop", blas_threads=None) as threads:
        assert threads == 1  # the book's step: one BLAS thread
    with registry.get("array_api_strict").run_scope(
        None, step_flops=1.6e7, grad="backprop", blas_threads=None
    ) as threads:
        assert threads is None  # the plain policy: the library's own
    assert numpy.stepper(None, {}, (), "auto") is None  # NumPy has no stepper: fit runs its steps


def _code(path):
    """A module's code without its docstrings and comments (they may name the backends' forms)."""
    import ast

    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(getattr(body[0], "value", None), ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body[0] = ast.Pass()
    return ast.unparse(tree)


def test_math_modules_name_no_backend():
    """The backends hold all library knowledge: the math modules name none."""
    import re

    src = pathlib.Path(xpnet.__file__).parent
    paths = [
        src / f"{name}.py"
        for name in ("functions", "gradient", "nets", "incremental_numgrad", "steps", "runloop", "history", "train")
    ] + sorted((src / "sweep").glob("*.py"))
    for path in paths:
        code = _code(path)
        hits = re.findall(
            r"cupy|memGetInfo|\bStream\(|[!=]= *\"(?:numpy|cupy|torch|jax|array_api_strict)\"|"
            r"ThreadPoolExecutor|import torch",
            code,
        )
        assert not hits, (path.name, hits)


def test_the_shared_backend_modules_name_no_library():
    """``backend/__init__.py``, ``base.py`` and ``registry.py`` import no library: that is each package's business."""
    import re

    folder = pathlib.Path(xpnet.__file__).parent / "backend"
    for name in ("__init__.py", "base.py", "registry.py"):
        text = (folder / name).read_text()
        assert not re.findall(
            r"import (?:cupy|torch|jax)|is_(?:cupy|torch|jax)_|getDeviceProperties|cupy\.cuda", text
        ), name


def test_the_command_line_names_no_library():
    """``xpnet info`` asks each backend to describe its library: the cli names none."""
    import re

    for path in (pathlib.Path(xpnet.__file__).parent / "cli").glob("*.py"):
        code = "\n".join(line for line in path.read_text().splitlines() if not line.strip().startswith("#"))
        assert not re.findall(r"\b(?:cupy|torch|jax)\b", code), path.name


def test_loaded_library_is_read_from_the_memory_map(tmp_path):
    from xpnet.backend.cupy.loader import loaded_library

    maps = tmp_path / "maps"
    maps.write_text(
        "7f0000000000-7f0000001000 r-xp 00000000 08:01 42   /usr/lib/libc.so.6\n"
        "7f0000002000-7f0000003000 r-xp 00000000 08:01 43   /opt/venv/nvidia/cublas/lib/libcublas.so.13\n"
        "7f0000004000-7f0000005000 r-xp 00000000 08:01 44   /usr/lib/libcublasLt.so.12\n"
        "7ffd00000000-7ffd00001000 rw-p 00000000 00:00 0    [stack]\n"
    )
    assert loaded_library("libcublas.so", maps=str(maps)) == "/opt/venv/nvidia/cublas/lib/libcublas.so.13"
    assert loaded_library("libcudart.so", maps=str(maps)) is None
    assert loaded_library("libcublas.so", maps=str(tmp_path / "missing")) is None
    assert loaded_library("libc.so") is not None or not os.path.exists("/proc/self/maps")  # this process


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("soft", [False, True])
def test_numpy_pass_is_the_array_api_pass_to_the_bit(dtype, soft):
    """NumPy's faster form (in-place ufuncs) computes the same operations in the same order."""
    from xpnet.backend.numpy.fast import loss_and_gradient as numpy_pass

    for seed in range(3):
        params, x, t = _problem(seed, n=37, d=29, hidden=11, c=7, dtype=dtype)
        params = {k: v * 40 for k, v in params.items()}  # large scores: both overflow guards at work
        if soft:
            t = np.asarray(np.random.default_rng(seed).dirichlet(np.ones(7), 37), dtype=dtype)
        xp = xpnet.get_namespace("numpy")
        for with_loss in (True, False):
            want = plain(loss_and_gradient, params, x, t, xp=xp, with_loss=with_loss)
            got = numpy_pass(params, x, t, xp=xp, with_loss=with_loss)
            assert (got[0] is None) == (want[0] is None) and (want[0] is None or got[0] == want[0])
            for k in PARAM_NAMES:
                assert got[1][k].dtype == want[1][k].dtype and np.array_equal(got[1][k], want[1][k]), (k, seed)
    assert registry.get("numpy").loss_and_gradient is numpy_pass
    assert numpy_pass(params, x.astype(np.float32 if dtype == "float64" else np.float64), t) is NotImplemented


# ------------------------------------------------------------------ the contract

FASTER_FORMS = (
    "sigmoid",
    "softmax",
    "loss_and_gradient",
    "sgd_step",
    "hidden_gradient",
    "w1_gradient",
    "output_gradient",
)


def _backend_classes():
    """Every registered backend's class (CuPy's too: its package imports CuPy only inside its methods)."""
    return {name: type(registry.get(name)) for name in registry.PACKAGES}


def test_every_backend_is_a_backend_of_its_name():
    for name, cls in _backend_classes().items():
        backend = registry.get(name)
        assert isinstance(backend, Backend) and backend.name == name
        assert cls.load is not Backend.load, name  # each says how to load its library
    assert sorted(registry.PACKAGES) == sorted(xpnet.BACKENDS)


def test_every_method_a_backend_defines_is_one_of_the_contract():
    """A backend answers the contract and adds nothing the math could not ask for by name (its helpers
    are private): what a backend overrides is what ``Backend`` defines."""
    contract = {n for n in vars(Backend) if not n.startswith("_")}
    for name, cls in _backend_classes().items():
        for attr in vars(cls):
            if not attr.startswith("_") and attr not in ("name", "workers"):
                assert attr in contract, (name, attr)


def test_every_faster_form_is_asked_by_the_math():
    """Each faster form of the contract has one place in the math that asks for it."""
    import re

    src = pathlib.Path(xpnet.__file__).parent
    math = "".join((src / f"{m}.py").read_text() for m in ("functions", "nets", "steps", "incremental_numgrad"))
    import inspect

    for form in FASTER_FORMS:
        assert len(re.findall(rf"faster\([^)]*\)\.{form}\(", math)) == 1, form
        method = getattr(Backend(), form)
        required = [p for p in inspect.signature(method).parameters.values() if p.default is p.empty]
        assert method(*([None] * len(required))) is NotImplemented, form  # the base class always declines


def test_backend_of_maps_arrays_and_namespaces_with_one_function():
    import array_api_compat.numpy as npx
    import array_api_strict as xps

    jnp = pytest.importorskip("jax.numpy", reason="JAX is not installed: pip install '.[jax]'")
    assert backend_of(np.zeros(2)) is backend_of(np) is backend_of(npx) is registry.get("numpy")
    assert backend_of(xps.asarray([1.0])) is backend_of(xps) is registry.get("array_api_strict")
    assert backend_of(jnp.zeros(2)) is backend_of(jnp) is registry.get("jax")
    assert backend_of(object()) is registry.PLAIN and registry.PLAIN.name == ""


def test_the_steppers_declare_the_stepper_protocol():
    from xpnet.backend import Stepper
    from xpnet.backend.jax.steppers import ScanStepper
    from xpnet.backend.numpy.steppers import MemberSteps
    from xpnet.runloop import Steps

    for cls in (Steps, MemberSteps, ScanStepper):
        assert Stepper in cls.__mro__  # declared, not only shaped alike
    graph = (pathlib.Path(xpnet.__file__).parent / "backend" / "cupy" / "steppers.py").read_text()
    assert "class GraphStepper(Stepper):" in graph  # CuPy's, without importing CuPy
    assert isinstance(Steps(lambda i: i, np), Stepper)


@pytest.mark.parametrize("bad", [np.arange(3), np.ones(3, dtype=np.float16), "text"])
def test_checks_run_before_any_faster_form(monkeypatch, bad):
    """A stand-in for NumPy whose faster forms record what they see never sees bad input."""
    from xpnet.backend.numpy import NumPy

    seen = []

    class StandIn(NumPy):
        def sigmoid(self, x):
            seen.append("sigmoid")
            return NotImplemented

        def loss_and_gradient(self, params, x, t, xp=None, with_loss=True):
            seen.append("pass")
            return NotImplemented

    _with(monkeypatch, StandIn())
    with pytest.raises((TypeError, ValueError)):
        xpnet.sigmoid(bad)
    net = xpnet.TwoLayerNet(3, 2, 2, seed=0, backend="numpy")
    with pytest.raises((TypeError, ValueError)):
        net.gradient(bad, np.array([0]))
    assert seen == []
    xpnet.sigmoid(np.ones(3))  # good input does reach it
    net.gradient(np.ones((1, 3)), np.array([1]))
    assert seen == ["sigmoid", "pass", "sigmoid"]  # the pass declined: the Array-API pass ran (its sigmoid too)


def test_a_backend_added_in_a_test_trains(monkeypatch, tmp_path):
    """Adding a backend is one package and one registry line: array-api-strict under another name,
    from a package that exists only in this test, trains as the real one does."""
    pkg = tmp_path / "throwaway_backend"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from xpnet.backend import Backend\n"
        "class Throwaway(Backend):\n"
        "    name = 'throwaway'\n"
        "    def load(self):\n"
        "        import array_api_strict\n"
        "        return array_api_strict\n"
        "BACKEND = Throwaway()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    lines = {k: v for k, v in registry.PACKAGES.items() if k != "array_api_strict"}
    lines["throwaway"] = ("throwaway_backend", ("array_api_strict",))  # the one line
    monkeypatch.setattr(registry, "PACKAGES", lines)
    monkeypatch.setattr(registry, "_cache", {})
    x = np.random.default_rng(0).random((60, 8))
    t = np.arange(60) % 3
    with xpnet.use_backend("throwaway"):
        net = xpnet.TwoLayerNet(8, 5, 3, seed=0)
        h = xpnet.fit(net, xpnet.asarray(x), xpnet.asarray(t), iters=40, batch_size=10, seed=1, progress=False)
    assert h.config["backend"] == "throwaway" and type(backend_of(net.params["W1"])).__name__ == "Throwaway"
    ref = xpnet.TwoLayerNet(8, 5, 3, seed=0, backend="numpy")
    href = xpnet.fit(ref, x, t, iters=40, batch_size=10, seed=1, progress=False)
    np.testing.assert_allclose(h.loss, href.loss, rtol=1e-12)
    with pytest.raises(ValueError, match="throwaway"):  # the valid names come from the registry
        xpnet.set_backend("nonesuch")


def test_cublas_is_the_one_of_cupys_cuda_version(tmp_path):
    """PyTorch's CUDA-12 cuBLAS mapped before CuPy's CUDA-13 one: the map's order decides nothing."""
    from xpnet.backend.cupy.loader import cupy_cublas, loaded_libraries

    maps = tmp_path / "maps"
    maps.write_text(
        "7f0000000000-7f0000001000 r-xp 00000000 08:01 42   /venv/torch/lib/libcublas.so.12\n"
        "7f0000001000-7f0000002000 r--p 00001000 08:01 42   /venv/torch/lib/libcublas.so.12\n"
        "7f0000002000-7f0000003000 r-xp 00000000 08:01 43   /venv/nvidia/cu13/lib/libcublas.so.13.1.0.3\n"
        "7f0000004000-7f0000005000 r-xp 00000000 08:01 44   /venv/nvidia/cu13/lib/libcublasLt.so.13\n"
    )
    assert loaded_libraries("libcublas.so", str(maps)) == [
        "/venv/torch/lib/libcublas.so.12",
        "/venv/nvidia/cu13/lib/libcublas.so.13.1.0.3",
    ]
    assert cupy_cublas(str(maps), runtime_version=13000) == "/venv/nvidia/cu13/lib/libcublas.so.13.1.0.3"
    assert cupy_cublas(str(maps), runtime_version=12080) == "/venv/torch/lib/libcublas.so.12"
    assert cupy_cublas(str(maps), runtime_version=11080) is None  # not the wrong one


def test_the_library_a_module_is_bound_to_is_told_apart_from_a_copy(tmp_path):
    """Two copies of one library mapped (PyTorch's cuBLAS beside CuPy's, same major version): file
    names cannot tell them apart; ``bound_library`` names the copy the module's calls go to. Shown
    with NumPy's OpenBLAS and a copy of it, as CuPy's cuBLAS module is asked for libcublas."""
    code = f"""
import ctypes, glob, os, shutil
import numpy
from xpnet.backend.cupy.loader import bound_library, loaded_libraries
module = glob.glob(os.path.join(os.path.dirname(numpy.__file__), "_core", "_multiarray_umath*.so"))[0]
libs = os.path.join(os.path.dirname(numpy.__file__), os.pardir, "numpy.libs")
real = os.path.realpath(glob.glob(os.path.join(libs, "libscipy_openblas*.so"))[0])
copy = os.path.join({str(tmp_path)!r}, "libscipy_openblas-copy.so")
shutil.copy(real, copy)
ctypes.CDLL(copy, mode=ctypes.RTLD_GLOBAL)
mapped = [os.path.realpath(p) for p in loaded_libraries("libscipy_openblas")]
print(copy in mapped, real in mapped)
symbol = "scipy_cblas_dgemm64_"
print(bound_library(module, symbol) == real, bound_library(module, "no_such_symbol"))
print(bound_library(copy, symbol) == copy)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True", "True", "True", "None", "True"]


# ------------------------------------------------------------------ the CUDA softmax's formula, on the CPU


def _softmax_loss_grad_kernel(scores, b, t, n, delta=1e-7):
    """``softmax_loss_grad`` of ``backend/cupy/sources.py`` written out in NumPy line for line: one row
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
    scores = np.array(
        [[inf, 0, 0], [-inf, -inf, -inf], [inf, inf, 1], [-inf, 2, 1], [huge, -huge, 0], [nan, 0, 1], [3, 1, 2]],
        dtype=dtype,
    )
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
    """NumPy's faster forms (the book's code calls sigmoid and softmax directly: every microsecond shows)
    give the Array-API functions' values exactly, extremes, zeros of both signs and NaN included."""
    from xpnet import functions
    from xpnet.backend.numpy import fast

    dt = np.dtype(dtype)
    big = np.finfo(dt).max
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, big, -big, 700, -700, 100, -100, 1e-30, -1e-30], dtype=dt)
    rng = np.random.default_rng(0)
    for x in (
        rng.standard_normal((100, 50)).astype(dt) * 50,
        specials,
        specials.reshape(1, -1),
        rng.standard_normal((3, 4, 5)).astype(dt),
    ):
        for f, impl in ((functions.sigmoid_of, fast.sigmoid), (functions.softmax_of, fast.softmax)):
            want, got = plain(f, x), impl(x)
            assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True), f.__name__
    numpy = registry.get("numpy")
    assert numpy.sigmoid is fast.sigmoid and numpy.softmax is fast.softmax
    assert fast.sigmoid(np.float64(1.0)) is NotImplemented and fast.softmax(np.arange(3)) is NotImplemented


def test_jax_with_x64_switched_off_refuses_a_float64_net_instead_of_holding_float32():
    """A notebook that turns JAX's x64 mode off after xpnet turned it on: float64 is refused with the
    fix; float32 still works. In a child process: the switch is for the whole process."""
    pytest.importorskip("jax", reason="JAX is not installed: pip install '.[jax]'")
    code = (
        "import jax, xpnet\n"
        "assert str(xpnet.TwoLayerNet(4, 3, 2, backend='jax').params['W1'].dtype) == 'float64'\n"
        "jax.config.update('jax_enable_x64', False)\n"
        "assert str(xpnet.TwoLayerNet(4, 3, 2, backend='jax', dtype='float32').params['W1'].dtype) == 'float32'\n"
        "try:\n"
        "    xpnet.TwoLayerNet(4, 3, 2, backend='jax')\n"
        "except xpnet.BackendError as exc:\n"
        "    print(exc)\n"
    )
    run = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == (
        "jax.numpy makes float32 when asked for float64 (JAX: its x64 mode is off; "
        "jax.config.update('jax_enable_x64', True) turns it on), or ask for dtype='float32'"
    )


def test_importing_xpnet_skips_numpy_f2py_and_testing_and_loses_no_name():
    """array-api-compat's clone of NumPy is made without NumPy's f2py and testing (40-70 ms of every
    import); NumPy is left as it was, and the namespace holds every other name a plain import gives."""
    import json
    import subprocess
    import sys

    lean = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, json, numpy, xpnet.book, array_api_compat.numpy as xp; "
            "print(json.dumps([sorted(m for m in ('numpy.f2py', 'numpy.testing') if m in sys.modules), "
            "'testing' in numpy.__all__ and 'f2py' in dir(numpy), sorted(dir(xp))]))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    plain = subprocess.run(
        [sys.executable, "-c", "import json, array_api_compat.numpy as xp; print(json.dumps(sorted(dir(xp))))"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded, restored, names = json.loads(lean.stdout)
    assert loaded == [] and restored
    assert set(json.loads(plain.stdout)) - set(names) == {"f2py", "testing"}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_numpy_sigmoid_in_blocks_is_the_array_api_sigmoid_value_for_value(dtype):
    """Large arrays go through NumPy's sigmoid in blocks of rows (cache-sized temporaries): the same
    values as the Array-API formula, special values, a last short block and a transposed view included."""
    import xpnet.functions as F
    from xpnet.backend.numpy import fast

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3001, 50)) * 30
    x[:7, :] = [[np.nan], [np.inf], [-np.inf], [0.0], [-0.0], [-1000.0], [5e-324]]
    x = x.astype(dtype)
    assert x.size > 2 * fast.BLOCK
    for arr in (x, np.asfortranarray(x), x.T):
        with xpnet.backend.accelerated(False):
            ref = F.sigmoid_of(arr)
        got = fast.sigmoid(arr)
        assert got.dtype == arr.dtype and got.shape == arr.shape
        np.testing.assert_array_equal(got, ref)
