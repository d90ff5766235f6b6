"""Numerical differentiation and gradient descent (the book's ``common/gradient.py``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import array_api_compat

from ._checks import NonFiniteError, positive_number, prepare, require_finite, require_float
from ._typing import Array, ArrayLike, ScalarFunction
from .backend import backend_of

__all__ = ["NonFiniteError", "numerical_diff", "numerical_gradient", "numerical_gradient_batched", "gradient_descent"]


def _check_h(h: Any) -> Any:
    """The one rule for the step of every numerical gradient: a positive finite number."""
    return positive_number(h, "h")


def numerical_diff(f: Callable[[Any], Any], x: Any, h: float = 1e-4) -> Any:
    """Central difference ``(f(x + h) - f(x - h)) / (2h)``.

    Args:
        f: function of one number (or array, elementwise).
        x: point (Python number or array).
        h: step, 1e-4 as in the book.

    Returns:
        The derivative estimate, same kind as ``f``'s result.
    """
    _check_h(h)
    return (f(x + h) - f(x - h)) / (2 * h)


def _unravel(flat: Array, shape: Any) -> Any:
    idx = []
    for dim in reversed(shape):
        flat, r = divmod(flat, dim)
        idx.append(r)
    return tuple(reversed(idx))


def numerical_gradient(
    f: ScalarFunction, x: Array, h: float = 1e-4, batch: int | Literal["auto"] | None = None
) -> Array:
    """Gradient of ``f`` at ``x`` by central differences, one element at a time.

    As in the book, ``f`` is called as ``f(x)`` with ``x`` itself changed in
    place (so ``f = lambda w: net.loss(xb, tb)``, which ignores its argument,
    works). Every element of ``x`` is restored to its exact original value,
    also when ``f`` raises. Arrays that cannot be changed in place (JAX) are
    not: ``f`` gets copies with one element moved, so it must use its
    argument (the book's idiom is refused there with one clear error).

    Args:
        f: function returning a scalar (Python number or 0-d array).
        x: floating-point array of any shape; modified during the call and
            restored.
        h: step (1e-4, the book's).
        batch: ``None`` for the element loop (the book's, the default). An
            int ``K`` or ``"auto"``: ``f`` accepts a stack of inputs of shape
            ``(K, *x.shape)`` and returns ``K`` values; K elements are
            perturbed per call (see :func:`numerical_gradient_batched`).

    Returns:
        Array of x's shape and dtype.

    Raises:
        NonFiniteError: some component came out NaN or infinite.
    """
    _check_h(h)
    if batch is not None:
        return numerical_gradient_batched(f, x, h=h, batch=batch)
    xp, x = prepare(x=x)
    require_float(xp, x, "x")
    if not array_api_compat.is_writeable_array(x):
        return _numerical_gradient_copies(xp, f, x, h)
    grad = xp.zeros_like(x)
    shape = tuple(x.shape)
    n = math.prod(shape)
    for flat in range(n):
        idx = _unravel(flat, shape)
        tmp = xp.asarray(x[idx], copy=True)
        try:
            x[idx] = tmp + h
            fxh1 = _scalar(f(x))
            x[idx] = tmp - h
            fxh2 = _scalar(f(x))
        finally:
            x[idx] = tmp
        grad[idx] = (fxh1 - fxh2) / (2 * h)
    require_finite(xp, grad, "numerical_gradient: the gradient")
    return grad


def numerical_gradient_batched(
    f: Callable[[Array], Array], x: Array, h: float = 1e-4, batch: int | Literal["auto"] = "auto"
) -> Array:
    """Central differences evaluated K elements at a time.

    ``f`` must accept a stack ``X`` of shape ``(K, *x.shape)`` and return K
    values, ``f(X)[k]`` being the function at ``X[k]``. Row k of the stack is
    ``x`` with one element moved by ``+h`` (then ``-h``), so each value is the
    same central difference as the element loop's. ``x`` is not modified.

    Args:
        f: vectorised function, see above.
        x: floating-point array of any shape.
        h: step.
        batch: K, or ``"auto"`` to size it from the memory available.

    Returns:
        Array of x's shape and dtype.
    """
    _check_h(h)
    xp, x = prepare(x=x)
    require_float(xp, x, "x")
    n = math.prod(x.shape)
    if batch == "auto":
        # four (K, n) temporaries per chunk; the backend sets the memory they may take
        k = backend_of(xp).chunk_size(4 * n * _itemsize(x), cap=n)
    elif isinstance(batch, int) and not isinstance(batch, bool) and batch >= 1:
        k = min(batch, n)
    else:
        raise ValueError(f"batch must be a positive int or 'auto', got {batch!r}")
    with backend_of(xp).on_device(array_api_compat.device(x)):  # CuPy makes new arrays on the current device
        dev = array_api_compat.device(x)
        flat_x = xp.reshape(x, (1, n))
        pieces = []
        for start in range(0, n, k):
            stop = min(start + k, n)
            rows = xp.arange(start, stop, device=dev)
            hot = xp.reshape(rows, (-1, 1)) == xp.arange(n, device=dev)
            step = xp.where(hot, xp.asarray(h, dtype=x.dtype, device=dev), xp.asarray(0.0, dtype=x.dtype, device=dev))
            plus = xp.reshape(flat_x + step, (stop - start, *x.shape))
            minus = xp.reshape(flat_x - step, (stop - start, *x.shape))
            fp = xp.reshape(xp.asarray(f(plus)), (-1,))
            fm = xp.reshape(xp.asarray(f(minus)), (-1,))
            if fp.shape[0] != stop - start or fm.shape[0] != stop - start:
                raise ValueError(f"f must return one value per stacked input: gave {fp.shape[0]} for {stop - start}")
            pieces.append((fp - fm) / (2 * h))
        grad = xp.reshape(xp.concat(pieces) if len(pieces) > 1 else pieces[0], x.shape)
        grad = xp.astype(grad, x.dtype)
        require_finite(xp, grad, "numerical_gradient: the gradient")
        return grad


def _numerical_gradient_copies(xp: Any, f: Any, x: Array, h: Any) -> Any:
    """The element loop for arrays that cannot be changed in place (JAX): ``f`` is evaluated at
    copies of x with one element moved by +-h, the same numbers the in-place loop makes."""
    probe = _scalar(f(xp.full_like(x, float("nan"))))
    if bool(xp.all(xp.isfinite(xp.asarray(probe)))):
        raise TypeError(
            "f ignores its argument (the book's idiom f = lambda w: net.loss(x, t), which reads parameters the "
            f"loop changes in place), but arrays of {getattr(xp, '__name__', 'this library')} cannot be changed in "
            "place; give a function of its argument instead, e.g. lambda w: loss_of(w)"
        )
    with backend_of(xp).on_device(array_api_compat.device(x)):
        shape, n = tuple(x.shape), math.prod(x.shape)
        flat = xp.reshape(x, (n,))
        positions = xp.arange(n, device=array_api_compat.device(x))
        values = []
        for i in range(n):
            step = xp.where(positions == i, xp.asarray(h, dtype=x.dtype), xp.zeros_like(flat))
            fxh1 = _scalar(f(xp.reshape(flat + step, shape)))
            fxh2 = _scalar(f(xp.reshape(flat - step, shape)))
            values.append(xp.astype(xp.reshape(xp.asarray((fxh1 - fxh2) / (2 * h)), ()), x.dtype))
        grad = xp.reshape(xp.stack(values), shape) if values else xp.zeros_like(x)
        require_finite(xp, grad, "numerical_gradient: the gradient")
        return grad


def _scalar(value: Any) -> Any:
    """``value`` if it is one number (a Python number, or an array of one element); else TypeError."""
    if isinstance(value, bool) or not (
        isinstance(value, (int, float)) or array_api_compat.is_array_api_obj(value) or hasattr(value, "__float__")
    ):
        hint = " (did f forget to return its value?)" if value is None else ""
        raise TypeError(f"f must return one number (a scalar or a 0-d array), got {type(value).__name__}{hint}")
    shape = getattr(value, "shape", ())
    if math.prod(shape) != 1 and shape != ():
        raise TypeError(
            f"f must return one number (a scalar or a 0-d array), got an array of shape {tuple(shape)}; "
            "for a function of each row of x (the book's gradient_2d), use "
            "xpnet.book.numerical_gradient_2d(f, x), which takes f's gradient at every row"
        )
    return value if shape == () else array_api_compat.array_namespace(value).reshape(value, ())


def _itemsize(x: Array) -> Any:
    return 4 if "float32" in str(x.dtype) else 8


def gradient_descent(
    f: ScalarFunction, init_x: ArrayLike, lr: float = 0.01, step_num: int = 100, return_history: bool = False
) -> Array | tuple[Array, Array]:
    """Gradient descent with numerical gradients: ``x -= lr * grad`` ``step_num`` times.

    Args:
        f: function of x returning a scalar.
        init_x: starting point (floating array; not modified).
        lr: learning rate (positive).
        step_num: number of steps (>= 0).
        return_history: also return the points visited (for plotting).

    Returns:
        The final x; with ``return_history``, ``(x, history)`` where
        ``history[i]`` is x before step i, shape ``(step_num, *x.shape)``.

    Raises:
        NonFiniteError: x turned NaN or infinite (the step number is given).
    """
    lr = positive_number(lr, "lr")
    if isinstance(step_num, bool) or not isinstance(step_num, int) or step_num < 0:
        raise ValueError(f"step_num must be a non-negative int, got {step_num!r}")
    xp, x = prepare(init_x=init_x)
    require_float(xp, x, "init_x")
    x = xp.asarray(x, copy=True)
    history = []
    for i in range(step_num):
        if return_history:
            history.append(xp.asarray(x, copy=True))
        try:
            grad = numerical_gradient(f, x)
        except NonFiniteError as exc:
            raise NonFiniteError(
                f"gradient_descent: the gradient turned NaN or infinite at step {i + 1}; "
                "try a smaller learning rate or another starting point"
            ) from exc
        x = x - lr * grad
        require_finite(xp, x, "gradient_descent: x", step=i + 1)
    if return_history:
        hist = xp.stack(history) if history else xp.zeros((0, *x.shape), dtype=x.dtype)
        return x, hist
    return x
