"""The chapter's networks: ``SimpleNet`` and ``TwoLayerNet`` (the book's ``ch04/two_layer_net.py``).

The two-layer net's math is two functions of its parameters, :func:`forward`
and :func:`loss_and_gradient` (the book's ``gradient``, one straight pass).
Inputs and targets are checked once, where they enter (the methods); the
functions below them do no checks, so they can run inside a training step.
:func:`loss_and_gradient` first asks the arrays' backend for a faster form of
itself (``Backend.loss_and_gradient``, each backend's ``fast.py``); where there is
none, the plain Array-API pass below runs.
"""

from __future__ import annotations

import math
import os
from typing import Any, Literal

import array_api_compat
import numpy as np

from . import paramfile
from ._checks import (
    positive_int,
    positive_number,
    prepare,
    require_finite,
    require_float,
    require_ndim,
    seed_value,
    targets,
)
from ._typing import Array, ArrayLike, DTypeLike
from .backend import (
    asarray,
    backend_of,
    dtype_name,
    faster,
    float_dtype,
    get_device,
    get_namespace,
    namespace,
    to_numpy,
)
from .constants import DELTA, PARAM_NAMES
from .functions import cross_entropy, cross_entropy_error, sigmoid_of, softmax, softmax_of
from .gradient import numerical_gradient
from .incremental_numgrad import incremental_gradient
from .random import Rng

__all__ = ["SimpleNet", "TwoLayerNet", "PARAM_NAMES", "forward", "loss_and_gradient", "correct_counts"]


def forward(params: dict[str, Array], x: Array, xp: Any = None) -> tuple[Array, Array, Array, Array]:
    """The forward pass of the book's ``predict``: ``(a1, z1, a2, y)`` for 2-D x.

    Also for K nets stacked along a leading axis (``W1`` of shape (K, D, H), ``b1``
    (K, H)...) and their batches x (K, N, D): the same code, batched matrix products.
    """
    xp = namespace(x, params["W1"]) if xp is None else xp
    W1, b1, W2, b2 = (params[k] for k in PARAM_NAMES)
    a1 = xp.matmul(x, W1) + xp.expand_dims(b1, axis=-2)  # a bias row for every sample
    z1 = sigmoid_of(a1)
    a2 = xp.matmul(z1, W2) + xp.expand_dims(b2, axis=-2)
    y = softmax_of(a2)
    return a1, z1, a2, y


def loss_and_gradient(
    params: dict[str, Array], x: Array, t: Array, xp: Any = None, with_loss: bool = True
) -> tuple[Array | None, dict[str, Array]]:
    """The book's ``TwoLayerNet.gradient``: one forward and one backward pass.

    Args:
        params: dict ``W1, b1, W2, b2`` (or K nets stacked along a leading axis).
        x: inputs ``(batch_num, input_size)`` (or ``(K, batch_num, input_size)``),
            checked by the caller.
        t: one-hot targets ``(batch_num, output_size)`` (or stacked) of x's dtype.
        xp: the namespace (from the arrays by default; a training step
            may pass its own).
        with_loss: False leaves the loss out (``loss`` may then be None).

    Returns:
        ``(loss, grads)``: the mean cross-entropy error (0-d array) and a
        dict of gradients with the keys and shapes of ``params``.

    The loss keeps the book's ``1e-7`` inside the logarithm, so ``dy`` is
    its exact gradient: ``(y * sum(s) - s) / batch_num`` with
    ``s = t * y / (y + 1e-7)``. Without the delta ``s`` is ``t`` (one-hot rows
    sum to 1) and ``dy`` is the book's ``(y - t) / batch_num``; with it,
    backpropagation and numerical gradients agree to rounding, not only to
    about 1e-6.
    """
    fast = faster(x if xp is None else xp).loss_and_gradient(params, x, t, xp, with_loss)
    if fast is not NotImplemented:  # NumPy: the same pass in place; CuPy: fused kernels
        return fast
    xp = namespace(x, params["W1"]) if xp is None else xp
    W2 = params["W2"]
    grads = {}
    batch_num = x.shape[-2]  # axes counted from the end: one net, or K stacked ones

    # forward
    a1, z1, a2, y = forward(params, x, xp=xp)
    y_delta = y + DELTA
    loss = cross_entropy(xp, y, t) if with_loss else None  # cross_entropy_error(y, t)

    # backward
    s = t * y / y_delta
    dy = (y * xp.sum(s, axis=-1, keepdims=True) - s) / batch_num  # the book: (y - t) / batch_num
    grads["W2"] = xp.matmul(xp.matrix_transpose(z1), dy)
    grads["b2"] = xp.sum(dy, axis=-2)

    da1 = xp.matmul(dy, xp.matrix_transpose(W2))
    dz1 = da1 * (1 - z1) * z1  # sigmoid_grad(a1) * da1, with sigmoid(a1) already in z1
    grads["W1"] = xp.matmul(xp.matrix_transpose(x), dz1)
    grads["b1"] = xp.sum(dz1, axis=-2)
    return loss, {k: grads[k] for k in PARAM_NAMES}


def correct_counts(params: dict[str, Array], x: Array, labels: Array, batch: int, xp: Any = None) -> Array:
    """Correctly classified rows of ``(x, labels)``, ``batch`` rows at a time, left on the device: a 0-d
    array for one net, (K,) for K nets stacked along a leading axis (every member meets every row).
    The book takes the argmax of ``softmax(a2)``; that of ``a2`` is the same."""
    xp = namespace(x, params["W1"]) if xp is None else xp
    total = None
    for start in range(0, x.shape[0], batch):
        stop = min(start + batch, x.shape[0])
        a2 = forward(params, x[start:stop, ...], xp=xp)[2]
        hits = xp.sum(xp.astype(xp.argmax(a2, axis=-1) == labels[start:stop], xp.int64), axis=-1)
        total = hits if total is None else total + hits
    return total


def file_meta(net: Any) -> dict:
    """What a parameter file (or a checkpoint) says of a net besides its arrays: sizes, dtype, initial scale."""
    return {
        "input_size": net.input_size,
        "hidden_size": net.hidden_size,
        "output_size": net.output_size,
        "dtype": net.dtype,
        "weight_init_std": net.weight_init_std,
    }


class SimpleNet:
    """The book's ``simpleNet``: one 2x3 weight matrix, softmax and cross-entropy.

    Args:
        W: initial weights (2, 3); drawn from N(0, 1) with ``seed`` if omitted.
        seed: seed for the weights; None draws from NumPy's global random state,
            as the book's ``np.random.randn(2, 3)``.
        dtype: float64 (default) or float32.
        backend: where the weights are made (active backend by default).
    """

    def __init__(
        self, W: ArrayLike = None, seed: int | None = None, dtype: DTypeLike = "float64", backend: str | None = None
    ) -> None:
        xp = get_namespace(backend)
        float_dtype(xp, dtype)
        if W is None:
            self.W = Rng(seed).normal((2, 3), 1.0, dtype=dtype, backend=backend)
        else:
            self.W = asarray(W, dtype=dtype, backend=backend)
            if tuple(self.W.shape) != (2, 3):
                raise ValueError(f"W must have shape (2, 3), got {tuple(self.W.shape)}")

    def predict(self, x: ArrayLike) -> Array:
        """Scores ``x @ W``; x is (2,) or (N, 2)."""
        xp, x, W = prepare(x=x, W=self.W)
        require_float(xp, x, "x")
        return xp.matmul(x, W)

    def loss(self, x: ArrayLike, t: ArrayLike) -> Array:
        """Cross-entropy error of ``softmax(predict(x))`` against t."""
        return cross_entropy_error(softmax(self.predict(x)), t)

    def numerical_gradient(self, x: ArrayLike, t: ArrayLike) -> Array:
        """dL/dW by central differences (the loss as a function of W, so immutable arrays work too)."""
        xp, x, W = prepare(x=x, W=self.W)
        require_float(xp, x, "x")
        return numerical_gradient(lambda w: cross_entropy_error(softmax(xp.matmul(x, w)), t), W)


class TwoLayerNet:
    """The book's two-layer net: affine, sigmoid, affine, softmax.

    Args:
        input_size: inputs per sample (784 for MNIST).
        hidden_size: hidden units (the book uses 50).
        output_size: classes (10).
        weight_init_std: standard deviation of the initial weights (0.01).
        seed: seed of the initial weights, drawn on the host from
            ``numpy.random.default_rng(seed)``, so one seed gives bit-identical
            weights on every backend. None draws them from NumPy's global
            random state (``np.random.seed``), exactly as the book's
            ``np.random.randn`` calls do.
        dtype: ``"float64"`` (default, reproduces the book) or ``"float32"``.
        backend: where the parameters live (active backend and device by default;
            ``"name:device"`` names both).

    Attributes:
        params: dict with ``W1`` (input, hidden), ``b1`` (hidden,),
            ``W2`` (hidden, output), ``b2`` (output,).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        seed: int | None = None,
        dtype: DTypeLike = "float64",
        backend: str | None = None,
    ) -> None:
        self.input_size = positive_int(input_size, "input_size")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.output_size = positive_int(output_size, "output_size")
        positive_number(weight_init_std, "weight_init_std")
        xp = get_namespace(backend)
        dt = float_dtype(xp, dtype)
        self.dtype = dtype_name(dtype)
        self.weight_init_std = float(weight_init_std)
        rng = Rng(seed_value(seed, "seed"))
        device = get_device(backend)
        with backend_of(xp).on_device(device):  # the biases beside the weights (CuPy's zeros ignores device=)
            self.params = {
                "W1": rng.normal((self.input_size, self.hidden_size), weight_init_std, self.dtype, backend),
                "b1": xp.zeros((self.hidden_size,), dtype=dt, device=device),
                "W2": rng.normal((self.hidden_size, self.output_size), weight_init_std, self.dtype, backend),
                "b2": xp.zeros((self.output_size,), dtype=dt, device=device),
            }

    def __repr__(self) -> str:
        w1 = self.params["W1"]
        where = backend_of(w1).name
        device = str(array_api_compat.device(w1))
        on = f", device={device}" if any(k in device.lower() for k in ("cuda", "gpu")) else ""  # a GPU: which
        return (
            f"TwoLayerNet({self.input_size}, {self.hidden_size}, {self.output_size}, "
            f"dtype={dtype_name(w1.dtype)}, backend={where}{on})"
        )

    # ------------------------------------------------------------ forward
    @property
    def xp(self) -> Any:
        """The namespace the parameters live in."""
        return array_api_compat.array_namespace(self.params["W1"])

    def _input(self, x: Array, name: Any = "x") -> Any:
        """``(xp, x)`` with x checked and as rows ``(N, input_size)``."""
        xp, x, _ = prepare(**{name: x, "W1": self.params["W1"]})
        require_float(xp, x, name)
        if x.ndim > 2 and math.prod(x.shape[1:]) == self.input_size:
            raise ValueError(
                f"{name} of shape {tuple(x.shape)} holds images; the net takes rows of {self.input_size} "
                f"features: flatten them first ({name}.reshape(len({name}), -1), or load_mnist(flatten=True))"
            )
        if x.ndim == 2 and x.shape[1] != self.input_size and math.prod(x.shape) == self.input_size:
            raise ValueError(
                f"{name} of shape {tuple(x.shape)} is one image; the net takes rows of {self.input_size} "
                f"features: flatten it first ({name}.reshape(1, -1))"
            )
        require_ndim(x, name, (1, 2))
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"{name} must have {self.input_size} features per sample (the net's input_size), "
                f"got shape {tuple(x.shape)}; flatten images with load_mnist(flatten=True)"
            )
        return xp, (xp.reshape(x, (1, -1)) if x.ndim == 1 else x)

    def _batch(self, x: Array, t: Array, form: Any = "one_hot") -> Any:
        """``(xp, x, t)``: x as rows and t as one-hot rows of the parameters' dtype (or labels)."""
        xp, x = self._input(x)
        t, _ = targets(xp, t, x.shape[0], self.output_size, form=form, dtype=self.params["W1"].dtype)
        return xp, x, t

    def predict(self, x: ArrayLike) -> Array:
        """Class probabilities (softmax output) for x of shape (N, input) or (input,)."""
        xp, rows = self._input(x)
        y = forward(self.params, rows, xp=xp)[3]
        return xp.reshape(y, (self.output_size,)) if len(np.shape(x)) == 1 else y

    def loss(self, x: ArrayLike, t: ArrayLike) -> Array:
        """Mean cross-entropy error (the book's, delta 1e-7) of the predictions."""
        return cross_entropy_error(self.predict(x), t)

    def accuracy(self, x: ArrayLike, t: ArrayLike, batch_size: int = 10_000) -> float:
        """Fraction of samples whose most probable class is the label.

        Args:
            x: inputs (N, input).
            t: integer labels (N,) or one-hot (N, output).
            batch_size: evaluate this many rows at a time, on the device.

        Returns:
            A Python float in [0, 1].
        """
        xp, x = self._input(x)
        return float(self.correct_count(x, t, batch_size)) / x.shape[0]

    def correct_count(self, x: ArrayLike, t: ArrayLike, batch_size: int = 10_000) -> Array:
        """Number of correctly classified rows, as a 0-d array left on the device."""
        batch_size = positive_int(batch_size, "batch_size")
        xp, x, labels = self._batch(x, t, form="labels")
        return correct_counts(self.params, x, labels, batch_size, xp=xp)

    # ------------------------------------------------------------ gradients
    def gradient(self, x: ArrayLike, t: ArrayLike) -> dict[str, Array]:
        """Backpropagation: the analytic gradient of :meth:`loss` (see :func:`loss_and_gradient`).

        Returns:
            dict of gradients with the keys and shapes of ``params``.
        """
        xp, x, t = self._batch(x, t)
        return loss_and_gradient(self.params, x, t, xp=xp, with_loss=False)[1]

    def numerical_gradient(
        self,
        x: ArrayLike,
        t: ArrayLike,
        method: str = "incremental",
        h: float = 1e-4,
        batch: int | Literal["auto"] | None = "auto",
    ) -> dict[str, Array]:
        """Gradient of :meth:`loss` by central differences (h = 1e-4).

        Args:
            x: a batch.
            t: its labels (integer or one-hot).
            method: ``"incremental"`` (default, fast: recomputes only what a
                perturbation changes), ``"batched"`` (stacks of perturbed
                parameter copies through the whole net), or ``"loop"`` (the
                book's element loop; slow, the reference).
            h: step.
            batch: perturbations per chunk, or ``"auto"`` (from memory).

        Returns:
            dict of gradients with the keys and shapes of ``params``.
        """
        if method not in ("incremental", "batched", "loop"):
            raise ValueError(f"method must be 'incremental', 'batched' or 'loop', got {method!r}")
        h = positive_number(h, "h")  # one rule for the three methods
        xp, x, t = self._batch(x, t)  # checked once, not at every evaluation
        if method == "loop":

            def loss_of(key: Any) -> Any:  # the loss as a function of one parameter (the others as they are)
                return lambda w: cross_entropy_error(forward({**self.params, key: w}, x, xp=xp)[3], t)

            return {k: numerical_gradient(loss_of(k), self.params[k], h=h) for k in PARAM_NAMES}
        if method == "batched":
            return {
                k: numerical_gradient(self._stacked_loss(xp, x, t, k), self.params[k], h=h, batch=batch)
                for k in PARAM_NAMES
            }
        grads = incremental_gradient(self.params, x, t, h=h, batch=batch, xp=xp)
        for k, g in grads.items():
            require_finite(xp, g, f"numerical_gradient: d loss / d {k}")
        return grads

    def _stacked_loss(self, xp: Any, x: Array, t: Array, key: Any) -> Any:
        """f(stack) -> losses for a stack of copies of params[key] (batched path): the forward pass
        of K nets, the others' parameters shared by every copy."""

        def f(stack: Array) -> Any:
            k = stack.shape[0]
            p = {name: stack if name == key else xp.broadcast_to(v, (k, *v.shape)) for name, v in self.params.items()}
            return cross_entropy(xp, forward(p, x, xp=xp)[3], t)

        return f

    # ------------------------------------------------------------ saving
    def save(self, path: str | os.PathLike) -> None:
        """Write the parameters and sizes to an ``.npz`` file (temp name, then rename)."""
        paramfile.write(path, file_meta(self), {k: to_numpy(v) for k, v in self.params.items()})

    @classmethod
    def load(cls, path: str | os.PathLike, backend: str | None = None, dtype: DTypeLike = None) -> TwoLayerNet:
        """Read a net written by :meth:`save` onto ``backend`` (active by default).

        Args:
            path: the ``.npz`` file.
            backend: where to put the parameters (trained on the GPU,
                evaluated on the CPU works).
            dtype: convert the parameters (default: as saved).

        Raises:
            ValueError: anything but a file written by :meth:`save`: not an
                ``.npz``, damaged, missing or wrongly typed fields, shapes that
                do not fit, non-finite or non-real parameters. No more is read
                than the sizes the file's own metadata allow.
            OSError: the file cannot be opened.
        """
        meta, arrays = paramfile.read(os.fspath(path))
        return cls.from_file(meta, arrays, backend, dtype)

    @classmethod
    def from_file(cls, meta: dict, arrays: dict, backend: str | None = None, dtype: DTypeLike = None) -> TwoLayerNet:
        """The net of a file's checked ``meta`` and host ``arrays`` (``paramfile.read``), on ``backend``."""
        net = cls.__new__(cls)
        net.input_size, net.hidden_size, net.output_size = (
            meta["input_size"],
            meta["hidden_size"],
            meta["output_size"],
        )
        net.dtype = dtype_name(dtype) if dtype is not None else meta["dtype"]
        net.weight_init_std = float(meta["weight_init_std"])
        float_dtype(get_namespace(backend), net.dtype)
        net.params = {k: asarray(arrays[k], dtype=net.dtype, backend=backend) for k in PARAM_NAMES}
        return net

    def to(self, backend: str) -> TwoLayerNet:
        """A copy of this net with its parameters on another backend."""
        net = self.__class__.__new__(self.__class__)
        net.__dict__.update(self.__dict__)
        net.params = {k: asarray(v, backend=backend) for k, v in self.params.items()}
        return net
