"""Argument checks shared by the math: one clear error naming the argument.

Targets (labels or one-hot) are checked and shaped by :func:`targets` alone.
"""

from __future__ import annotations

import math
import sys

import array_api_compat
import numpy as np

from .backend import backend_of, get_namespace, namespace


def prepare(**named):
    """Return ``(xp, arrays...)`` for the named inputs.

    The namespace comes from the inputs that are arrays; lists and scalars
    among them are converted with it (with the active backend when none is
    an array).
    """
    values = tuple(np.asarray(v) if isinstance(v, np.generic) else v for v in named.values())  # NumPy scalars
    for v in values:  # the common case, all NumPy arrays, checked cheaply
        if type(v) is not np.ndarray:
            break
    else:
        return (namespace(*values), *values)
    arrays = [v for v in values if array_api_compat.is_array_api_obj(v)]
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


_KINDS: dict = {}  # (namespace, dtype, kind) -> bool: isdtype is slow and dtypes are few


def _isdtype(xp, dtype, kind) -> bool:
    try:
        return _KINDS[(xp, dtype, kind)]
    except KeyError:
        _KINDS[(xp, dtype, kind)] = answer = bool(xp.isdtype(dtype, kind))
        return answer
    except TypeError:  # a dtype that cannot be hashed
        return bool(xp.isdtype(dtype, kind))


def is_float(xp, x) -> bool:
    return _isdtype(xp, x.dtype, "real floating")


def is_int(xp, x) -> bool:
    return _isdtype(xp, x.dtype, "integral")


def require_float(xp, x, name):
    """Raise TypeError unless x is float32 or float64 (float16 is too coarse for h = 1e-4)."""
    if not is_float(xp, x) or x.dtype not in (xp.float32, xp.float64):
        raise TypeError(
            f"{name} must be a floating-point array (float32 or float64), got dtype {x.dtype}; "
            f"convert it first, e.g. xpnet.asarray({name}, dtype='float64')"
        )


def require_ndim(x, name, allowed):
    if x.ndim not in allowed:
        want = " or ".join(str(a) for a in allowed)
        raise ValueError(f"{name} must have {want} dimensions, got shape {tuple(x.shape)}")


def targets(xp, t, n, num_classes, *, form="given", dtype=None, name="t"):
    """The one place where labels and targets enter the math: checked, then shaped.

    Every function that takes targets (``cross_entropy_error``,
    ``mean_squared_error``, each ``TwoLayerNet`` method, ``fit``) calls this,
    so they accept and reject the same inputs with the same message.

    Args:
        xp: the namespace of the data.
        t: integer labels of shape ``(n,)`` with values in ``[0, num_classes)``,
            or one-hot (or soft) targets of shape ``(n, num_classes)``.
        n: the number of samples (rows of x or y).
        num_classes: the number of classes.
        form: ``"given"`` (labels stay int64 labels, one-hot becomes ``dtype``),
            ``"one_hot"`` (always one-hot of ``dtype``) or ``"labels"`` (always
            int64 labels; one-hot rows give their largest entry, as the book's
            ``accuracy`` does).
        dtype: floating dtype of one-hot results (default float64).
        name: the argument's name in messages.

    Returns:
        ``(t, is_labels)``: the targets in the asked form, and whether they are labels.

    Raises:
        ValueError: wrong shape, float labels, or a label outside ``[0, num_classes)``.
        TypeError: t is not an array or a list of numbers.
    """
    if array_api_compat.is_numpy_array(t) and not array_api_compat.is_numpy_namespace(xp):
        t = xp.asarray(np.asarray(t))  # host labels beside device data (they are small), as accuracy takes them
    if not array_api_compat.is_array_api_obj(t):
        try:
            t = xp.asarray(t)
        except Exception as exc:
            raise TypeError(f"{name} must be an array of labels or one-hot targets, got {type(t).__name__}") from exc
    dtype = xp.float64 if dtype is None else dtype
    if n == 0:
        raise ValueError(f"{name}: the batch is empty (0 samples); a mean over no samples is undefined")
    if is_int(xp, t) and t.ndim == 1 and t.shape[0] == n:
        check_label_range(xp, t, num_classes, name)
        labels = xp.astype(t, xp.int64) if t.dtype != xp.int64 else t
        if form == "one_hot":
            return one_hot(xp, labels, num_classes, dtype), False
        return labels, True
    if t.ndim == 2 and tuple(t.shape) == (n, num_classes) and (is_float(xp, t) or is_int(xp, t) or t.dtype == xp.bool):
        if form == "labels":
            return xp.argmax(t, axis=1), True
        return (t if t.dtype == dtype else xp.astype(t, dtype)), False
    if t.ndim == 1 and t.shape[0] == n and is_float(xp, t):
        raise ValueError(
            f"{name} holds float labels (dtype {t.dtype}); labels must be integers: convert them to integers "
            f"(t.astype(int), or xp.astype(t, xp.int64)), or give one-hot rows of shape ({n}, {num_classes})"
        )
    if t.ndim == 2 or is_float(xp, t):
        first, second = f"one-hot of shape ({n}, {num_classes})", f"integer labels of shape ({n},)"
    else:
        first, second = f"integer labels of shape ({n},)", f"one-hot of shape ({n}, {num_classes})"
    raise ValueError(
        f"{name} must be {first} (or {second}) for {n} samples of {num_classes} classes, "
        f"got {name} of shape {tuple(t.shape)} and dtype {t.dtype}"
    )


def is_traced(a) -> bool:
    """Whether ``a`` is an abstract value being traced (``jax.jit``, ``jax.grad``): it has no values
    to read on the host, so value checks are left to where the data entered."""
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(a, jax.core.Tracer)


def one_hot(xp, labels, num_classes, dtype):
    """One-hot rows ``(*labels.shape, num_classes)`` of ``dtype`` for integer labels (unchecked)."""
    device = array_api_compat.device(labels)
    with backend_of(xp).on_device(device):  # CuPy's arange ignores device=
        classes = xp.arange(num_classes, device=device)
        return xp.astype(xp.reshape(labels, (*labels.shape, 1)) == classes, dtype)


def check_label_range(xp, t, num_classes, name="t"):
    """ValueError unless every integer label lies in ``[0, num_classes)`` (one host read; none
    inside a ``jax.jit`` trace, where labels have no values yet)."""
    if math.prod(t.shape) == 0 or is_traced(t):
        return
    lo, hi = int(xp.min(t)), int(xp.max(t))
    if lo < 0 or hi >= num_classes:
        raise ValueError(
            f"{name} holds labels from {lo} to {hi}, but there are {num_classes} classes: "
            f"labels must lie in [0, {num_classes - 1}]"
        )


def positive_int(value, name):
    """``value`` as an int; ValueError naming ``name`` unless it is a whole number >= 1."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def positive_number(value, name):
    """``value`` as a Python float; ValueError naming ``name`` unless it is a finite real number > 0
    (NumPy scalars count as numbers)."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def fast_value(value, name="fast", steps=True):
    """``fast`` as documented: ``"auto"``, True, False, or (``steps``) a positive int of steps per
    CUDA graph or scan; ValueError naming it otherwise."""
    if value is True or value is False or value == "auto" and isinstance(value, str):
        return value
    if steps and not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, np.integer)) and value >= 1:
        return int(value)
    allowed = (
        "'auto', True, False or a positive int (steps per CUDA graph or scan)" if steps else "'auto', True or False"
    )
    raise ValueError(f"{name} must be {allowed}, got {value!r}")


def seed_value(value, name):
    """``value`` as a seed: None, or a whole number from 0 to 2**32 - 1 (NumPy integers count)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or not 0 <= value < 2**32:
        raise ValueError(f"{name} must be None or a whole number from 0 to 2**32 - 1, got {value!r}")
    return int(value)


def per_net(value, k, name, check):
    """``value`` once per net, each passed through ``check(v, name)``: one value for all (named
    ``name``), or a sequence (list, tuple, range, 1-D array) of exactly ``k`` (named ``name[i]``);
    ValueError naming ``name`` otherwise."""
    if isinstance(value, (str, bytes, dict, set)):
        raise ValueError(f"{name} must be one value or a sequence of one per net ({k}), got {type(value).__name__}")
    if isinstance(value, (list, tuple, range)) or (np.ndim(value) == 1 and not np.isscalar(value)):
        values = list(value)
        if len(values) != k:
            raise ValueError(f"{name} must be one value or one per net ({k}), got {len(values)} values")
        return [check(v, f"{name}[{i}]") for i, v in enumerate(values)]
    if np.ndim(value) > 1:
        raise ValueError(f"{name} must be one value or a sequence of one per net ({k}), got shape {np.shape(value)}")
    return [check(value, name)] * k


class NonFiniteError(FloatingPointError):
    """A result turned NaN or infinite."""


def require_finite(xp, a, what, step=None):
    """Raise NonFiniteError (naming ``what`` and the step) unless every entry of ``a`` is finite."""
    if not bool(xp.all(xp.isfinite(a))):
        at = "" if step is None else f" at step {step}"
        raise NonFiniteError(
            f"{what} turned NaN or infinite{at}; the function may overflow there "
            "(for gradient descent: try a smaller learning rate)"
        )
