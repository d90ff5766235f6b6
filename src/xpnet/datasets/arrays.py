"""Raw image bytes made into a loader's arrays: the dtype checked, pixels scaled, images flattened
or kept square, labels as integers or one-hot, then moved to the chosen backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._typing import Array
from ..backend import asarray, dtype_name


def loader_dtype(dtype: Any, normalize: Any) -> Any:
    """The NumPy dtype of a loader's images: a float type, or (``normalize=False``) uint8 too: only
    what holds every pixel value as it is (0-255, or 0-1 normalized); ValueError naming ``dtype``."""
    if dtype is None:
        return np.dtype(np.float32 if normalize else np.uint8)
    try:
        dt = np.dtype(dtype_name(dtype))
    except TypeError as exc:
        raise ValueError(f"dtype must be a NumPy dtype name such as 'float32', got {dtype!r}") from exc
    if dt.kind == "f" or (dt == np.uint8 and not normalize):
        return dt
    if normalize:
        raise ValueError(f"dtype must be float32 or float64 with normalize=True, got {dtype!r}")
    raise ValueError(f"dtype must be uint8 or a float type with normalize=False (pixels are 0-255), got {dtype!r}")


def finish(
    images: Array,
    labels: Array,
    normalize: Any,
    flatten: Any,
    one_hot_label: Any,
    dtype: Any,
    backend: Any,
    scale: Any,
    side: Any,
) -> Any:
    dt = loader_dtype(dtype, normalize)
    x = np.true_divide(images, dt.type(scale), dtype=dt) if normalize else np.array(images, dtype=dt)
    n = x.shape[0]
    x = x.reshape(n, side * side) if flatten else x.reshape(n, 1, side, side)
    if one_hot_label:
        t = np.zeros((n, 10), dtype=np.float32 if dtype is None else np.dtype(dtype_name(dtype)))
        t[np.arange(n), labels.astype(np.int64)] = 1
    else:
        t = labels.astype(np.int64)
    return asarray(x, backend=backend), asarray(t, backend=backend)


def check_flags(normalize: Any, flatten: Any, one_hot_label: Any) -> Any:
    for name, v in (("normalize", normalize), ("flatten", flatten), ("one_hot_label", one_hot_label)):
        if not isinstance(v, bool):
            raise TypeError(f"{name} must be True or False, got {v!r}")


def split_size(n_train: Any, n: int) -> int:
    """``n_train`` checked: a whole number from 1 to ``n - 1`` (8000.5 and "8000" are refused, not
    rounded or compared as text)."""
    if isinstance(n_train, (bool, np.bool_)) or not isinstance(n_train, (int, np.integer)) or not 0 < n_train < n:
        raise ValueError(f"n_train must be a whole number from 1 to {n - 1}, got {n_train!r}")
    return int(n_train)
