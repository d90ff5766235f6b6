"""The book's own names and forms, for its chapter-4 scripts.

``from xpnet.book import *`` stands in for the book's ``common/functions.py``,
``common/gradient.py``, ``ch04/gradient_2d.py``, ``ch04/gradient_method.py``,
``ch04/gradient_simplenet.py``, ``ch04/two_layer_net.py`` and
``dataset/mnist.py``: the same names, arguments and return forms (NumPy
arrays and dtypes for ``load_mnist``), computed by xpnet. Seeds follow NumPy's
global random state (``np.random.seed``) as the book's code does. The README
lists what still differs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import functions as _functions
from ._checks import prepare, require_float
from ._typing import Array
from .functions import cross_entropy_error, mean_squared_error, relu
from .gradient import gradient_descent as _gradient_descent
from .gradient import numerical_diff, numerical_gradient
from .nets import SimpleNet, TwoLayerNet

__all__ = [
    # common/functions.py
    "identity_function",
    "step_function",
    "sigmoid",
    "sigmoid_grad",
    "relu",
    "relu_grad",
    "softmax",
    "sum_squares_error",
    "sum_squared_error",
    "mean_squared_error",
    "cross_entropy_error",
    "softmax_loss",
    # common/gradient.py, ch04/gradient_1d.py, ch04/gradient_2d.py, ch04/gradient_method.py
    "numerical_diff",
    "numerical_gradient",
    "numerical_gradient_2d",
    "gradient_descent",
    # ch04/gradient_simplenet.py, ch04/two_layer_net.py
    "simpleNet",
    "TwoLayerNet",
    # dataset/mnist.py
    "load_mnist",
]


def _as_book_float(x: Any) -> Any:
    """What the book's NumPy functions do with ints, bools and lists: compute in float64."""
    if isinstance(x, (list, tuple, int, float)) or (
        isinstance(x, np.ndarray | np.generic) and (np.issubdtype(x.dtype, np.integer) or x.dtype == bool)
    ):
        return np.asarray(x, dtype=np.float64)
    return x


def sigmoid(x: Array) -> Array:
    """The book's ``sigmoid``: ``1 / (1 + exp(-x))``; int arrays and lists as the book takes them."""
    return _functions.sigmoid(_as_book_float(x))


def sigmoid_grad(x: Array) -> Array:
    """The book's ``sigmoid_grad``: ``(1 - sigmoid(x)) * sigmoid(x)``; int arrays and lists too."""
    return _functions.sigmoid_grad(_as_book_float(x))


def softmax(x: Array) -> Array:
    """The book's ``softmax`` (the row maximum subtracted); int arrays such as the book's
    ``np.array([1010, 1000, 990])`` and lists too."""
    return _functions.softmax(_as_book_float(x))


#: The sum of squares error (``0.5 * sum((y - t) ** 2)``) under both its names: the chapter's text
#: (``sum_squares_error``) and the book repository's current one (``sum_squared_error``).
sum_squares_error = sum_squared_error = mean_squared_error


def identity_function(x: Array) -> Any:
    """The output layer of regression: ``x`` itself."""
    return x


def step_function(x: Array) -> Any:
    """1 where ``x > 0``, else 0 (integers, as the book's ``np.array(x > 0, dtype=int)``)."""
    xp, x = prepare(x=x)
    return xp.astype(x > 0, xp.int64)


def relu_grad(x: Array) -> Any:
    """1 where ``x >= 0``, else 0 (the book's ``relu_grad``)."""
    xp, x = prepare(x=x)
    require_float(xp, x, "x")
    return xp.astype(x >= 0, x.dtype)


def softmax_loss(X: Array, t: Array) -> Any:
    """``cross_entropy_error(softmax(X), t)``."""
    return cross_entropy_error(softmax(X), t)


def numerical_gradient_2d(f: Any, X: Array) -> Any:
    """The book's ``ch04/gradient_2d.py`` gradient: for a 2-D ``X``, the gradient of ``f``
    at each row, row by row (``f`` takes one row); for a 1-D ``X``, at ``X``."""
    xp, X = prepare(X=X)
    require_float(xp, X, "X")
    if X.ndim == 1:
        return numerical_gradient(f, xp.asarray(X, copy=True))
    rows = [numerical_gradient(f, xp.asarray(X[i, ...], copy=True)) for i in range(X.shape[0])]
    return xp.stack(rows) if rows else xp.zeros_like(X)


def gradient_descent(f: Any, init_x: Array, lr: Any = 0.01, step_num: Any = 100) -> Any:
    """The book's ``ch04/gradient_method.py``: ``(x, x_history)`` after ``step_num`` steps.

    Unlike the book's, ``init_x`` is left as it was (the book updates it in place).
    """
    return _gradient_descent(f, init_x, lr=lr, step_num=step_num, return_history=True)


class simpleNet(SimpleNet):  # noqa: N801  (the book's spelling)
    """The book's ``simpleNet``: ``W`` drawn by ``np.random.randn(2, 3)`` (NumPy's global state)."""

    def __init__(self) -> None:
        super().__init__(seed=None)


def load_mnist(normalize: Any = True, flatten: Any = True, one_hot_label: Any = False) -> Any:
    """The book's ``dataset/mnist.py``: MNIST as NumPy arrays in the book's dtypes.

    Images float32 in [0, 1] (``normalize``) or uint8; labels uint8, or
    float64 one-hot rows (``one_hot_label``). Found or downloaded as
    :func:`xpnet.datasets.load_mnist` does (checked); no substitute set.
    """
    from .datasets import MNIST, load_raw

    for name, v in (("normalize", normalize), ("flatten", flatten), ("one_hot_label", one_hot_label)):
        if not isinstance(v, bool):
            raise TypeError(f"{name} must be True or False, got {v!r}")
    raw = load_raw(MNIST)

    def images(a: Array) -> Any:
        x = np.asarray(a)
        x = x.astype(np.float32) / 255.0 if normalize else np.array(x, dtype=np.uint8)
        return x.reshape(-1, 784) if flatten else x.reshape(-1, 1, 28, 28)

    def labels(a: Array) -> Any:
        t = np.array(a, dtype=np.uint8)
        if not one_hot_label:
            return t
        hot = np.zeros((t.size, 10))
        hot[np.arange(t.size), t] = 1
        return hot

    return (
        (images(raw["train_images"]), labels(raw["train_labels"])),
        (images(raw["test_images"]), labels(raw["test_labels"])),
    )
