"""The book's chapter-4 code, written out as the benchmarks' baseline.

``TwoLayerNet`` and the training loop follow *Deep Learning from Scratch*
(ch04/two_layer_net.py, ch04/train_neuralnet.py, common/functions.py,
common/gradient.py): NumPy only, ``np.dot``, ``np.random.choice`` per
iteration, the loss recomputed after each update, and the element-by-element
numerical gradient.
"""

import sys

import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_grad(x):
    return (1.0 - sigmoid(x)) * sigmoid(x)


def softmax(x):
    if x.ndim == 2:
        x = x.T
        x = x - np.max(x, axis=0)
        y = np.exp(x) / np.sum(np.exp(x), axis=0)
        return y.T
    x = x - np.max(x)
    return np.exp(x) / np.sum(np.exp(x))


def cross_entropy_error(y, t):
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


def numerical_gradient(f, x):
    h = 1e-4
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        idx = it.multi_index
        tmp_val = x[idx]
        x[idx] = float(tmp_val) + h
        fxh1 = f(x)
        x[idx] = tmp_val - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp_val
        it.iternext()
    return grad


def two_layer_net_class(functions):
    """The book's ch04/two_layer_net.py, its ``common.functions`` / ``common.gradient`` names
    (sigmoid, sigmoid_grad, softmax, cross_entropy_error, numerical_gradient) taken from
    ``functions``: this module (the book's own) or ``xpnet`` (the book's code as xpnet's client)."""
    sigmoid, sigmoid_grad, softmax = functions.sigmoid, functions.sigmoid_grad, functions.softmax
    cross_entropy_error, numerical_gradient = functions.cross_entropy_error, functions.numerical_gradient

    class TwoLayerNet:
        def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, dtype=np.float64, seed=0):
            rng = np.random.default_rng(seed)
            self.params = {
                "W1": (weight_init_std * rng.standard_normal((input_size, hidden_size))).astype(dtype),
                "b1": np.zeros(hidden_size, dtype=dtype),
                "W2": (weight_init_std * rng.standard_normal((hidden_size, output_size))).astype(dtype),
                "b2": np.zeros(output_size, dtype=dtype),
            }

        def predict(self, x):
            W1, W2 = self.params["W1"], self.params["W2"]
            b1, b2 = self.params["b1"], self.params["b2"]
            a1 = np.dot(x, W1) + b1
            z1 = sigmoid(a1)
            a2 = np.dot(z1, W2) + b2
            return softmax(a2)

        def loss(self, x, t):
            return cross_entropy_error(self.predict(x), t)

        def accuracy(self, x, t):
            y = np.argmax(self.predict(x), axis=1)
            t = np.argmax(t, axis=1)
            return np.sum(y == t) / float(x.shape[0])

        def numerical_gradient(self, x, t):
            loss_W = lambda W: self.loss(x, t)  # noqa: E731
            return {k: numerical_gradient(loss_W, self.params[k]) for k in ("W1", "b1", "W2", "b2")}

        def gradient(self, x, t):
            W1, W2 = self.params["W1"], self.params["W2"]
            b1, b2 = self.params["b1"], self.params["b2"]
            grads = {}
            batch_num = x.shape[0]
            a1 = np.dot(x, W1) + b1
            z1 = sigmoid(a1)
            a2 = np.dot(z1, W2) + b2
            y = softmax(a2)
            dy = (y - t) / batch_num
            grads["W2"] = np.dot(z1.T, dy)
            grads["b2"] = np.sum(dy, axis=0)
            da1 = np.dot(dy, W2.T)
            dz1 = sigmoid_grad(a1) * da1
            grads["W1"] = np.dot(x.T, dz1)
            grads["b1"] = np.sum(dz1, axis=0)
            return grads

    return TwoLayerNet


TwoLayerNet = two_layer_net_class(sys.modules[__name__])


def train_loop(network, x_train, t_train, iters_num, batch_size=100, learning_rate=0.1):
    """The book's train_neuralnet.py loop (accuracy evaluation left out)."""
    train_size = x_train.shape[0]
    train_loss_list = []
    with np.errstate(over="ignore"):  # the book's sigmoid overflows for large negative inputs
        for i in range(iters_num):
            batch_mask = np.random.choice(train_size, batch_size)
            x_batch = x_train[batch_mask]
            t_batch = t_train[batch_mask]
            grad = network.gradient(x_batch, t_batch)
            for key in ("W1", "b1", "W2", "b2"):
                network.params[key] -= learning_rate * grad[key]
            loss = network.loss(x_batch, t_batch)
            train_loss_list.append(loss)
    return train_loss_list
