"""The chapter's networks: ``SimpleNet`` and ``TwoLayerNet``."""

from __future__ import annotations

import json
import os

import numpy as np
import array_api_compat

from ._accel import lookup
from ._io import atomic_path
from ._checks import (check_labels, is_float, is_int, positive_int, positive_number, prepare,
                      require_float, require_ndim)
from .backend import asarray, dtype_name, float_dtype, get_namespace, to_numpy
from .functions import DELTA, _cross_entropy_onehot, cross_entropy_error, sigmoid, softmax, to_one_hot
from .gradient import numerical_gradient, _require_finite
from .random import Rng

PARAM_NAMES = ("W1", "b1", "W2", "b2")


class SimpleNet:
    """The book's ``simpleNet``: one 2x3 weight matrix, softmax and cross-entropy.

    Args:
        W: initial weights (2, 3); drawn from N(0, 1) with ``seed`` if omitted.
        seed: seed for the weights.
        dtype: float64 (default) or float32.
        backend: where the weights are made (active backend by default).
    """

    def __init__(self, W=None, seed=None, dtype="float64", backend=None):
        xp = get_namespace(backend)
        float_dtype(xp, dtype)
        if W is None:
            self.W = Rng(seed).normal((2, 3), 1.0, dtype=dtype, backend=backend)
        else:
            self.W = asarray(W, dtype=dtype, backend=backend)
            if tuple(self.W.shape) != (2, 3):
                raise ValueError(f"W must have shape (2, 3), got {tuple(self.W.shape)}")

    def predict(self, x):
        """Scores ``x @ W``; x is (2,) or (N, 2)."""
        xp, x, W = prepare(x=x, W=self.W)
        require_float(xp, x, "x")
        return xp.matmul(x, W)

    def loss(self, x, t):
        """Cross-entropy error of ``softmax(predict(x))`` against t."""
        return cross_entropy_error(softmax(self.predict(x)), t)

    def numerical_gradient(self, x, t):
        """dL/dW by central differences, as the book does (``f`` ignores W)."""
        return numerical_gradient(lambda W: self.loss(x, t), self.W)


class TwoLayerNet:
    """The book's two-layer net: affine, sigmoid, affine, softmax.

    Args:
        input_size: inputs per sample (784 for MNIST).
        hidden_size: hidden units (the book uses 50).
        output_size: classes (10).
        weight_init_std: standard deviation of the initial weights (0.01).
        seed: seed of the initial weights. Weights are drawn on the host from
            ``numpy.random.default_rng(seed)``, so one seed gives bit-identical
            weights on every backend.
        dtype: ``"float64"`` (default, reproduces the book) or ``"float32"``.
        backend: where the parameters live (active backend by default).

    Attributes:
        params: dict with ``W1`` (input, hidden), ``b1`` (hidden,),
            ``W2`` (hidden, output), ``b2`` (output,).
    """

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01,
                 seed=None, dtype="float64", backend=None):
        self.input_size = positive_int(input_size, "input_size")
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        self.output_size = positive_int(output_size, "output_size")
        positive_number(weight_init_std, "weight_init_std")
        xp = get_namespace(backend)
        dt = float_dtype(xp, dtype)
        self.dtype = dtype_name(dtype)
        self.weight_init_std = float(weight_init_std)
        rng = Rng(seed)
        self.params = {
            "W1": rng.normal((self.input_size, self.hidden_size), weight_init_std, self.dtype, backend),
            "b1": xp.zeros((self.hidden_size,), dtype=dt),
            "W2": rng.normal((self.hidden_size, self.output_size), weight_init_std, self.dtype, backend),
            "b2": xp.zeros((self.output_size,), dtype=dt),
        }

    # ------------------------------------------------------------ forward
    @property
    def xp(self):
        """The namespace the parameters live in."""
        return array_api_compat.array_namespace(self.params["W1"])

    def _input(self, x, name="x"):
        xp, x, W1 = prepare(**{name: x, "W1": self.params["W1"]})
        require_float(xp, x, name)
        require_ndim(x, name, (1, 2))
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"{name} must have {self.input_size} features per sample (the net's input_size), "
                f"got shape {tuple(x.shape)}; flatten images with load_mnist(flatten=True)"
            )
        return xp, x

    def _forward(self, xp, x):
        p = self.params
        a1 = xp.matmul(x, p["W1"]) + p["b1"]
        z1 = sigmoid(a1)
        a2 = xp.matmul(z1, p["W2"]) + p["b2"]
        return z1, a2

    def predict(self, x):
        """Class probabilities (softmax output) for x of shape (N, input) or (input,)."""
        xp, x = self._input(x)
        _, a2 = self._forward(xp, x)
        return softmax(a2)

    def _targets(self, xp, t, n, name="t"):
        """One-hot float targets (n, output) from one-hot or integer labels, checked."""
        if not array_api_compat.is_array_api_obj(t):
            t = xp.asarray(t)
        if is_int(xp, t) and t.ndim == 1 and t.shape[0] == n:
            check_labels(xp, t, self.output_size, name)
            return to_one_hot(t, self.output_size, dtype=self.params["W1"].dtype)
        if t.ndim == 2 and tuple(t.shape) == (n, self.output_size):
            return t if is_float(xp, t) else xp.astype(t, self.params["W1"].dtype)
        raise ValueError(
            f"{name} must be integer labels of shape ({n},) or one-hot of shape "
            f"({n}, {self.output_size}), got shape {tuple(t.shape)} and dtype {t.dtype}"
        )

    def loss(self, x, t):
        """Mean cross-entropy error (the book's, delta 1e-7) of the predictions."""
        return cross_entropy_error(self.predict(x), t)

    def accuracy(self, x, t, batch_size=10_000):
        """Fraction of samples whose most probable class is the label.

        Args:
            x: inputs (N, input).
            t: integer labels (N,) or one-hot (N, output).
            batch_size: evaluate this many rows at a time, on the device.

        Returns:
            A Python float in [0, 1].
        """
        xp, x = self._input(x)
        if x.ndim == 1:
            x = xp.reshape(x, (1, -1))
        return float(self.correct_count(x, t, batch_size)) / x.shape[0]

    def correct_count(self, x, t, batch_size=10_000):
        """Number of correctly classified rows, as a 0-d array left on the device."""
        xp, x = self._input(x)
        if x.ndim == 1:
            x = xp.reshape(x, (1, -1))
        if not array_api_compat.is_array_api_obj(t):
            t = xp.asarray(t)
        if t.ndim == 2:
            labels = xp.argmax(t, axis=1)
        else:
            labels = t
        if labels.shape[0] != x.shape[0]:
            raise ValueError(f"t must have one label per row of x ({x.shape[0]}), got shape {tuple(t.shape)}")
        total = xp.asarray(0, dtype=xp.int64, device=array_api_compat.device(x))
        for start in range(0, x.shape[0], batch_size):
            stop = min(start + batch_size, x.shape[0])
            _, a2 = self._forward(xp, x[start:stop, ...])
            pred = xp.argmax(a2, axis=1)  # softmax keeps the order
            total = total + xp.sum(xp.astype(pred == xp.astype(labels[start:stop], pred.dtype), xp.int64))
        return total

    # ------------------------------------------------------------ gradients
    def gradient(self, x, t):
        """Backpropagation: the analytic gradient of :meth:`loss`.

        The loss keeps the book's ``1e-7`` inside the logarithm, so the
        gradient with respect to the output scores is
        ``(y * sum(s) - s) / N`` with ``s = t * y / (y + 1e-7)``; without the
        delta this is the book's ``(y - t) / N``. Numerical and analytic
        gradients therefore agree to rounding, not just to about 1e-6.

        Returns:
            dict of gradients with the keys and shapes of ``params``.
        """
        xp, x = self._input(x)
        if x.ndim == 1:
            x = xp.reshape(x, (1, -1))
        t = self._targets(xp, t, x.shape[0])
        grads, _ = self._gradient(xp, x, t)
        return grads

    def _gradient(self, xp, x, t):
        """Gradients and the loss (0-d array) for 2-D x and one-hot float t; no checks."""
        p = self.params
        n = x.shape[0]
        z1 = _bias_sigmoid(xp, xp.matmul(x, p["W1"]), p["b1"])
        loss, dy, gb2 = _softmax_loss_grad(xp, xp.matmul(z1, p["W2"]), p["b2"], t, n)
        dz1 = xp.matmul(dy, xp.matrix_transpose(p["W2"]))
        da1, gb1 = _sigmoid_backward(xp, dz1, z1)
        grads = {
            "W1": xp.matmul(xp.matrix_transpose(x), da1),
            "b1": gb1,
            "W2": xp.matmul(xp.matrix_transpose(z1), dy),
            "b2": gb2,
        }
        return grads, loss

    def numerical_gradient(self, x, t, method="incremental", h=1e-4, batch="auto"):
        """Gradient of :meth:`loss` by central differences (h = 1e-4).

        Args:
            x, t: a batch and its labels (integer or one-hot).
            method: ``"incremental"`` (default, fast: recomputes only what a
                perturbation changes), ``"batched"`` (stacks of perturbed
                parameter copies through the whole net), or ``"loop"`` (the
                book's element loop; slow, the reference).
            h: step.
            batch: perturbations per chunk, or ``"auto"`` (from memory).

        Returns:
            dict of gradients with the keys and shapes of ``params``.
        """
        xp, x = self._input(x)
        if x.ndim == 1:
            x = xp.reshape(x, (1, -1))
        t = self._targets(xp, t, x.shape[0])  # checked once, not at every evaluation
        if method == "loop":
            def f(_w):  # the book's form: ignores its argument, reads the params
                _, a2 = self._forward(xp, x)
                return _cross_entropy_onehot(xp, softmax(a2), t)
            return {k: numerical_gradient(f, self.params[k], h=h) for k in PARAM_NAMES}
        if method == "batched":
            return {k: numerical_gradient(self._stacked_loss(xp, x, t, k), self.params[k], h=h, batch=batch)
                    for k in PARAM_NAMES}
        if method == "incremental":
            from .numgrad import incremental_gradient
            grads = incremental_gradient(self, xp, x, t, h=h, batch=batch)
            for k, g in grads.items():
                _require_finite(xp, g, f"numerical_gradient: d loss / d {k}")
            return grads
        raise ValueError(f"method must be 'incremental', 'batched' or 'loop', got {method!r}")

    def _stacked_loss(self, xp, x, t, key):
        """f(stack) -> losses for a stack of copies of params[key] (batched path)."""
        def f(stack):
            p = dict(self.params)
            k = stack.shape[0]
            p[key] = stack
            def expand(v):  # (K, ...) stays; a single parameter broadcasts
                return v if v is stack else xp.reshape(v, (1, *v.shape))
            b1 = expand(p["b1"])
            b2 = expand(p["b2"])
            a1 = xp.matmul(x, expand(p["W1"])) + xp.reshape(b1, (b1.shape[0], 1, -1))
            z1 = sigmoid(a1)
            a2 = xp.matmul(z1, expand(p["W2"])) + xp.reshape(b2, (b2.shape[0], 1, -1))
            y = softmax(a2)
            losses = -xp.sum(t * xp.log(y + DELTA), axis=(1, 2)) / x.shape[0]
            return losses if losses.shape[0] == k else xp.broadcast_to(losses, (k,))
        return f

    # ------------------------------------------------------------ saving
    def save(self, path):
        """Write the parameters and sizes to an ``.npz`` file (temp name, then rename)."""
        path = os.fspath(path)
        meta = {"input_size": self.input_size, "hidden_size": self.hidden_size,
                "output_size": self.output_size, "dtype": self.dtype,
                "weight_init_std": self.weight_init_std, "format": "xpnet.TwoLayerNet/1"}
        arrays = {k: to_numpy(v) for k, v in self.params.items()}
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, __meta__=np.asarray(json.dumps(meta)), **arrays)

    @classmethod
    def load(cls, path, backend=None, dtype=None):
        """Read a net written by :meth:`save` onto ``backend`` (active by default).

        Args:
            path: the ``.npz`` file.
            backend: where to put the parameters (trained on the GPU,
                evaluated on the CPU works).
            dtype: convert the parameters (default: as saved).

        Raises:
            ValueError: not a file written by :meth:`save`, or shapes that
                do not fit.
        """
        try:
            with np.load(os.fspath(path), allow_pickle=False) as data:
                meta = json.loads(str(data["__meta__"]))
                arrays = {k: np.array(data[k]) for k in PARAM_NAMES}
        except (KeyError, ValueError, OSError) as exc:
            raise ValueError(f"{path}: not a TwoLayerNet parameter file written by TwoLayerNet.save ({exc})") from exc
        net = cls.__new__(cls)
        net.input_size, net.hidden_size, net.output_size = (
            int(meta["input_size"]), int(meta["hidden_size"]), int(meta["output_size"]))
        net.dtype = dtype_name(dtype) if dtype is not None else meta["dtype"]
        net.weight_init_std = float(meta.get("weight_init_std", 0.01))
        shapes = {"W1": (net.input_size, net.hidden_size), "b1": (net.hidden_size,),
                  "W2": (net.hidden_size, net.output_size), "b2": (net.output_size,)}
        for k, shape in shapes.items():
            if arrays[k].shape != shape:
                raise ValueError(f"{path}: {k} has shape {arrays[k].shape}, expected {shape}")
        float_dtype(get_namespace(backend), net.dtype)
        net.params = {k: asarray(arrays[k], dtype=net.dtype, backend=backend) for k in PARAM_NAMES}
        return net

    def to(self, backend):
        """A copy of this net with its parameters on another backend."""
        net = self.__class__.__new__(self.__class__)
        net.__dict__.update(self.__dict__)
        net.params = {k: asarray(v, backend=backend) for k, v in self.params.items()}
        return net


# Steps of the forward and backward pass. Each is the readable array-API formula;
# a backend may register a fused kernel for the same formula (xpnet._accel).

def _bias_sigmoid(xp, a, b):
    """``sigmoid(a + b)``: the hidden layer's activation."""
    fused = lookup("bias_sigmoid", xp)
    out = None if fused is None else fused(a, b)
    if out is not None:
        return out
    return sigmoid(a + b)


def _softmax_loss_grad(xp, scores, b, t, n):
    """Softmax of ``scores + b``, its mean cross-entropy against t, and the gradient.

    Returns ``(loss, dy, db)``: the loss (0-d), d loss / d scores, and its column sums.
    """
    fused = lookup("softmax_loss_grad", xp)
    out = None if fused is None else fused(scores, b, t, n)
    if out is not None:
        return out
    y = softmax(scores + b)
    loss, dy = _loss_and_dy(xp, y, t, n)
    return loss, dy, xp.sum(dy, axis=0)


def _loss_and_dy(xp, y, t, n):
    """Loss (0-d) and d loss / d scores for softmax output y and one-hot t.

    With ``s = t * y / (y + 1e-7)``: ``dy = (y * sum(s) - s) / n``, the exact
    gradient of the book's loss (its delta included).
    """
    yd = y + DELTA
    loss = -xp.sum(t * xp.log(yd)) / n
    s = t * y / yd
    dy = (y * xp.sum(s, axis=1, keepdims=True) - s) / n
    return loss, dy


def _sigmoid_backward(xp, dout, z):
    """``dout * sigmoid'(a)`` with ``z = sigmoid(a)``, and its column sums."""
    fused = lookup("sigmoid_backward", xp)
    out = None if fused is None else fused(dout, z)
    if out is not None:
        return out
    da = dout * (1 - z) * z
    return da, xp.sum(da, axis=0)
