"""Which shared library this process has loaded (no CuPy needed, so the CPU tests can check it)."""

from __future__ import annotations

import os


def loaded_library(stem, maps="/proc/self/maps"):
    """Path of the loaded shared library whose file name starts with ``stem`` (or None).

    Reads the process's memory map (Linux), so the answer is the very file
    that is loaded, whichever of several installed copies that is.
    """
    try:
        with open(maps) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) == 6 and os.path.basename(parts[5].strip()).startswith(stem):
            return parts[5].strip()
    return None
