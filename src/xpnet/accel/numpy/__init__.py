"""NumPy (CPU): the library's hooks here, how the host runs xpnet's chunked work in ``api.py``."""

from __future__ import annotations

import os
import platform

import numpy as np


def load():
    import array_api_compat.numpy as xp
    return xp


def device_name(xp, device) -> str:
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def synchronize(xp) -> None:
    pass


def describe() -> list[str]:
    import numpy as np

    from . import api
    return [f"numpy {np.__version__}; BLAS: {api.blas_line()}"]


def to_numpy(x):
    """A host copy (or view) of an array of this library."""
    return np.asarray(x)


def on_device(device):
    """Where new arrays go: ``device=`` says it for this library (nothing to enter)."""
    import contextlib
    return contextlib.nullcontext()
