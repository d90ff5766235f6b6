"""CuPy's faster forms: xpnet's Array-API functions composed of fused kernels.

Each method of :class:`FusedForms` takes the arguments of the Array-API function it stands
for (named in its docstring) and computes the same formulas with the kernels of
``kernels.py``; where a kernel is not for the inputs it returns ``NotImplemented``, and the
Array-API function runs instead. The kernel set is passed in, so the CPU tests run these
compositions with reference kernels written from the Array-API formulas
(``tests/reference_kernels.py``), and the GPU tests with the real ones.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import array_api_compat

from ...constants import PARAM_NAMES


class FusedForms:
    """The faster forms of :class:`xpnet.backend.base.Backend`, over the kernel set ``k``
    (``kernels`` on a GPU)."""

    def __init__(self, k: ModuleType | Any) -> None:
        self.k = k

    def sigmoid(self, x):
        """``functions.sigmoid_of`` (input checked by ``sigmoid``)."""
        return self.k.sigmoid(x)

    def loss_and_gradient(self, params, x, t, xp=None, with_loss=True):
        """``nets.loss_and_gradient``: the same pass, in three fused kernels
        (the loss comes with the softmax kernel whatever ``with_loss`` asks)."""
        xp = array_api_compat.array_namespace(x) if xp is None else xp
        if x.ndim != 2:  # stacked nets: the Array-API pass
            return NotImplemented
        k = self.k
        W1, b1, W2, b2 = (params[key] for key in PARAM_NAMES)
        batch_num = x.shape[0]
        z1 = k.bias_sigmoid(xp.matmul(x, W1), b1)  # z1 = sigmoid(a1), a1 = x @ W1 + b1
        if z1 is NotImplemented:
            return NotImplemented
        out = k.softmax_loss_grad(xp.matmul(z1, W2), b2, t, batch_num)  # y = softmax(a2): loss, dy, sum(dy)
        if out is NotImplemented:
            return NotImplemented
        loss, dy, db2 = out
        da1 = xp.matmul(dy, xp.matrix_transpose(W2))
        out = k.sigmoid_backward(da1, z1)  # dz1 = da1 * (1 - z1) * z1, sum(dz1)
        if out is NotImplemented:
            return NotImplemented
        dz1, db1 = out
        grads = {
            "W1": xp.matmul(xp.matrix_transpose(x), dz1),
            "b1": db1,
            "W2": xp.matmul(xp.matrix_transpose(z1), dy),
            "b2": db2,
        }
        return loss, grads

    def sgd_step(self, params, x, t, idx, lr, xp=None):
        """``steps.sgd_step``: gather, fused pass, one update kernel (``steps.sgd_update``)."""
        k = self.k
        batch = k.take_rows((x, t), idx)
        if batch is NotImplemented:
            return NotImplemented
        x_batch, t_batch = batch
        out = self.loss_and_gradient(params, x_batch, t_batch, xp=xp)
        if out is NotImplemented:
            return NotImplemented
        loss, grads = out
        if (
            k.sgd_update([params[key] for key in PARAM_NAMES], [grads[key] for key in PARAM_NAMES], lr)
            is NotImplemented
        ):
            for key in PARAM_NAMES:  # the Array-API rule (nothing above changed the parameters)
                params[key] -= lr * grads[key]
        return loss

    def hidden_gradient(self, point, xrows, h, xp=None):
        """``incremental_numgrad.hidden_gradient`` (one-hot targets)."""
        if not point.one_hot:
            return NotImplemented
        return self.k.numgrad_hidden(point.a1t, point.z1t, xrows, point.W2, point.a2c, point.labels, h)

    def w1_gradient(self, point, h, rows, xp=None):
        """``incremental_numgrad.w1_gradient`` (one-hot targets): every input, ``rows`` at a time."""
        if not point.one_hot:
            return NotImplemented
        xp = array_api_compat.array_namespace(point.x) if xp is None else xp
        d = point.xt.shape[0]
        pieces = []
        for i in range(0, d, rows):
            g = self.hidden_gradient(point, point.xt[i : min(i + rows, d), ...], h)
            if g is NotImplemented:
                return NotImplemented
            pieces.append(g)
        return xp.concat(pieces, axis=0) if len(pieces) > 1 else pieces[0]

    def output_gradient(self, point, h, xp=None):
        """``incremental_numgrad.output_gradient`` (one-hot targets)."""
        if not point.one_hot:
            return NotImplemented
        return self.k.numgrad_output(point.z1t, point.a2c, point.labels, h)
