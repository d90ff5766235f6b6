"""Input checks shared by the math: one clear error naming the argument."""

from __future__ import annotations

import math

import array_api_compat
import numpy as np

from .backend import get_namespace, namespace


def prepare(**named):
    """Return ``(xp, arrays...)`` for the named inputs.

    The namespace comes from the inputs that are arrays; lists and scalars
    among them are converted with it (with the active backend when none is
    an array).
    """
    arrays = [v for v in named.values() if array_api_compat.is_array_api_obj(v)]
    xp = namespace(*arrays) if arrays else get_namespace()
    out = []
    for name, v in named.items():
        if not array_api_compat.is_array_api_obj(v):
            try:
                v = xp.asarray(v)
            except Exception as exc:
                raise TypeError(f"{name} must be an array, got {type(v).__name__}") from exc
        out.append(v)
    return (xp, *out)


def is_float(xp, x) -> bool:
    return xp.isdtype(x.dtype, "real floating")


def is_int(xp, x) -> bool:
    return xp.isdtype(x.dtype, "integral")


def require_float(xp, x, name):
    """Raise TypeError unless x has a real floating dtype."""
    if not is_float(xp, x):
        raise TypeError(
            f"{name} must be a floating-point array (float32 or float64), got dtype {x.dtype}; "
            f"convert it first, e.g. xpnet.asarray({name}, dtype='float64')"
        )


def require_ndim(x, name, allowed):
    if x.ndim not in allowed:
        want = " or ".join(str(a) for a in allowed)
        raise ValueError(f"{name} must have {want} dimensions, got shape {tuple(x.shape)}")


def check_labels(xp, t, num_classes, name="t"):
    """Raise ValueError unless every integer label lies in [0, num_classes)."""
    if math.prod(t.shape) == 0:
        return
    lo = int(xp.min(t))
    hi = int(xp.max(t))
    if lo < 0 or hi >= num_classes:
        raise ValueError(
            f"{name} holds labels from {lo} to {hi}, but y has {num_classes} classes: "
            f"labels must lie in [0, {num_classes - 1}]"
        )


def positive_int(value, name):
    """``value`` as an int; ValueError naming ``name`` unless it is a whole number >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def positive_number(value, name):
    """ValueError naming ``name`` unless value is a finite real number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return value
