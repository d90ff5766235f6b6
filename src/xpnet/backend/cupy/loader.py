"""Which shared library this process has loaded (no CuPy at import, so the CPU tests can check it)."""

from __future__ import annotations

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


def cupy_cublas(maps="/proc/self/maps", runtime_version=None):
    """The cuBLAS CuPy itself uses: the loaded ``libcublas.so`` of CuPy's CUDA major version
    (``runtime_version`` as ``cupy.cuda.runtime.runtimeGetVersion()`` gives it: 13000 for 13.0)."""
    if runtime_version is None:
        import cupy

        runtime_version = cupy.cuda.runtime.runtimeGetVersion()
    return loaded_library("libcublas.so", maps, major=int(runtime_version) // 1000)
