"""Which shared library this process has loaded (no CuPy at import, so the CPU tests can check it)."""

from __future__ import annotations

import ctypes
import os


def loaded_libraries(stem, maps="/proc/self/maps"):
    """Paths of the loaded shared libraries whose file name starts with ``stem``, in map order,
    each once. Reads the process's memory map (Linux), so these are the very files loaded."""
    try:
        with open(maps) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) == 6 and os.path.basename(parts[5].strip()).startswith(stem):
            path = parts[5].strip()
            if path not in found:
                found.append(path)
    return found


def major_of(path, stem):
    """The major version in a library's file name (``libcublas.so.13.1.0`` -> 13), or None."""
    rest = os.path.basename(path)[len(stem) :].lstrip(".")
    head = rest.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def loaded_library(stem, maps="/proc/self/maps", major=None):
    """Path of the loaded library ``stem`` (or None); with ``major``, the one of that major version
    (PyTorch's CUDA-12 cuBLAS may be mapped beside CuPy's CUDA-13 one: the map's order decides nothing)."""
    paths = loaded_libraries(stem, maps)
    if major is None:
        return paths[0] if paths else None
    for path in paths:
        if major_of(path, stem) == major:
            return path
    return None


class _DlInfo(ctypes.Structure):
    _fields_ = [
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    ]


def _dladdr():
    for name in (None, "libdl.so.2"):  # glibc 2.34+ has dladdr in libc itself
        try:
            fn = ctypes.CDLL(name).dladdr
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.c_void_p, ctypes.POINTER(_DlInfo)]
        fn.restype = ctypes.c_int
        return fn
    return None


def bound_library(module_file, symbol):
    """Path of the shared library that gives ``symbol`` to the extension module ``module_file``, as
    the dynamic linker bound it for that module (``dlsym`` through the module's own handle, then
    ``dladdr``), or None. Two copies of one library (PyTorch's cuBLAS beside CuPy's, of the same
    major version) are told apart by this; by file names and map order they cannot be."""
    dladdr = _dladdr()
    if dladdr is None or not module_file:
        return None
    try:
        address = ctypes.cast(getattr(ctypes.CDLL(module_file), symbol), ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None
    info = _DlInfo()
    if not address or not dladdr(address, ctypes.byref(info)) or not info.dli_fname:
        return None
    return os.path.realpath(os.fsdecode(info.dli_fname))


def _cupy_cublas_module():
    try:
        from cupy_backends.cuda.libs import cublas as module
    except ImportError:
        return None
    return getattr(module, "__file__", None)


def cupy_cublas(maps="/proc/self/maps", runtime_version=None, module_file=None):
    """The cuBLAS CuPy itself uses: the library CuPy's cuBLAS module is bound to, where the linker
    says; otherwise the loaded ``libcublas.so`` of CuPy's CUDA major version (``runtime_version`` as
    ``cupy.cuda.runtime.runtimeGetVersion()`` gives it: 13000 for 13.0)."""
    bound = bound_library(module_file or _cupy_cublas_module(), "cublasDgemm_v2")
    if bound is not None:
        return bound
    if runtime_version is None:
        import cupy

        runtime_version = cupy.cuda.runtime.runtimeGetVersion()
    return loaded_library("libcublas.so", maps, major=int(runtime_version) // 1000)
