"""array-api-strict: the standard and nothing more (the suite's check that the math is portable)."""

from __future__ import annotations

from .. import numpy as _host
from ..registry import BackendError


def device_name(xp, device) -> str:
    """Its arrays live in host memory: the host's name (its stand-in devices are names only)."""
    return _host.device_name(xp, device)


def load():
    try:
        import array_api_strict as xp
    except ImportError as exc:
        raise BackendError("backend 'array_api_strict' needs the array-api-strict package: "
                           "pip install 'xpnet[test]'") from exc
    return xp


def synchronize(xp) -> None:
    pass


def describe() -> list[str]:
    from importlib import metadata
    try:
        return [f"array-api-strict {metadata.version('array-api-strict')}"]
    except metadata.PackageNotFoundError:
        return []


def to_numpy(x):
    """A host copy (or view) of an array of this library."""
    import numpy as np
    try:
        return np.from_dlpack(x)
    except Exception:  # no DLPack export to the host
        return np.asarray(x)


def on_device(device):
    """Where new arrays go: ``device=`` says it for this library (nothing to enter)."""
    import contextlib
    return contextlib.nullcontext()
