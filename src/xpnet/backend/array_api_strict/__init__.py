"""array-api-strict: the standard and nothing more (the suite's check that the math is portable)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..base import Backend, BackendError
from ..numpy import BACKEND as HOST


class ArrayApiStrict(Backend):
    """array-api-strict's arrays: NumPy underneath, the standard's functions only."""

    name = "array_api_strict"

    def load(self) -> Any:
        try:
            import array_api_strict as xp
        except ImportError as exc:
            raise BackendError(
                "backend 'array_api_strict' needs the array-api-strict package: "
                "pip install '.[test]' from a checkout of xpnet"
            ) from exc
        return xp

    def device_names(self, device: Any) -> set[str]:
        """``Device('CPU_DEVICE')`` answers to ``cpu_device`` and ``cpu``; ``Device('device1')`` to ``device1``."""
        found = re.search(r"Device\('([^']+)'\)", str(device))
        base = found.group(1).lower() if found else str(device).lower()
        return {base, "cpu"} if base == "cpu_device" else {base}

    def device_name(self, xp: Any, device: Any) -> str:
        """Its arrays live in host memory: the host's name (its stand-in devices are names only)."""
        return HOST.device_name(xp, device)

    def describe(self) -> list[str]:
        from importlib import metadata

        try:
            return [f"array-api-strict {metadata.version('array-api-strict')}"]
        except metadata.PackageNotFoundError:
            return []

    def to_numpy(self, x: Any) -> Any:
        try:
            return np.from_dlpack(x)
        except Exception:  # no DLPack export to the host
            return np.asarray(x)


BACKEND = ArrayApiStrict()
