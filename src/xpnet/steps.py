"""One SGD step, for one net and for K stacked nets: the chapter's update, in Array-API form.

``sgd_step`` is the body of the book's loop (the mini-batch, its loss and gradient,
the update). ``stacked_step`` is the same for K nets whose parameters are stacked
along a leading axis (``fit_many``). Both end in :func:`sgd_update`, the chapter's
rule ``params[key] -= lr * grads[key]``. A change to the update (momentum, say) is
made here, and in the two other forms that write the update again:

* CuPy's faster form of :func:`sgd_step` (``backend/cupy/fast.py``: ``FusedForms.sgd_step``)
  ends in the ``sgd4`` kernel (``backend/cupy/sources.py``), the same rule in CUDA C;
* nothing else: NumPy's faster form covers only ``nets.loss_and_gradient`` and keeps this
  update, JAX compiles :func:`step_of_data` (or :func:`stacked_step`) itself, and NumPy's
  sweep runs :func:`step_of_data` for each member.

``tests/test_steps.py`` runs these steps against the update written out by hand, and
``tests/test_backends.py`` checks CuPy's fused step against this one (with reference kernels
on the CPU; ``tests/gpu/`` with the real ones): a change here that the other forms do not
follow fails there.
"""

from __future__ import annotations

from typing import Any

from ._typing import Array
from .backend import faster, namespace
from .constants import PARAM_NAMES
from .functions import cross_entropy
from .incremental_numgrad import incremental_gradient
from .nets import forward, loss_and_gradient

__all__ = ["sgd_update", "batch_rows", "sgd_step", "numerical_step", "stacked_step", "step_of_data"]


def sgd_update(params: Any, grads: Any, lr: Any, mask: Any = None, xp: Any = None) -> Any:
    """The chapter's update, ``params[key] -= lr * grads[key]``, in place (or by rebinding the entry).

    K stacked nets: ``lr`` holds one rate per member (K,), and members whose ``mask`` (K,)
    is False keep their parameters.
    """
    for key in PARAM_NAMES:
        if mask is None:
            params[key] -= lr * grads[key]
            continue
        shape = (mask.shape[0],) + (1,) * (params[key].ndim - 1)  # a rate and a mask entry per member
        stepped = params[key] - xp.reshape(lr, shape) * grads[key]
        params[key] = xp.where(xp.reshape(mask, shape), stepped, params[key])


def batch_rows(xp: Any, a: Array, idx: Any) -> Any:
    """Rows ``idx`` of ``a`` (a mini-batch; the indices drawn by the run, so in range)."""
    fast = faster(a).batch_rows(a, idx)
    return xp.take(a, idx, axis=0) if fast is NotImplemented else fast


def sgd_step(params: Any, x: Array, t: Array, idx: Any, lr: Any, xp: Any = None) -> Any:
    """One iteration of the book's loop: the mini-batch, its loss and gradient, the update.

    Updates ``params`` in place (:func:`sgd_update`) and returns the mini-batch's loss
    (0-d array, before the update). ``t``: one-hot rows of x's dtype.
    """
    fast = faster(x if xp is None else xp).sgd_step(params, x, t, idx, lr, xp)
    if fast is not NotImplemented:  # CuPy: gather, fused pass and update kernels
        return fast
    xp = namespace(x, params["W1"]) if xp is None else xp
    x_batch, t_batch = batch_rows(xp, x, idx), batch_rows(xp, t, idx)
    loss, grads = loss_and_gradient(params, x_batch, t_batch, xp=xp)
    sgd_update(params, grads, lr, xp=xp)
    return loss


def numerical_step(params: Any, x: Array, t: Array, idx: Any, lr: Any, xp: Any = None, sparse: bool = False) -> Any:
    """:func:`sgd_step` with the gradient by (incremental) central differences; ``sparse``: decided
    once for the run (``incremental_numgrad.sparse_pays``), so the step reads nothing back."""
    x_batch, t_batch = batch_rows(xp, x, idx), batch_rows(xp, t, idx)
    grads = incremental_gradient(params, x_batch, t_batch, xp=xp, one_hot=True, sparse=sparse)
    loss = cross_entropy(xp, forward(params, x_batch, xp=xp)[3], t_batch)
    sgd_update(params, grads, lr, xp=xp)
    return loss


def step_of_data(params: Any, data: Any, idx: Any, xp: Any = None) -> Any:
    """:func:`sgd_step` as a function of the parameters, ``data = (x, t, lr)`` and the indices:
    one function for every run, so a backend can compile it once (the learning rate is data)."""
    x, t, lr = data
    return sgd_step(params, x, t, idx, lr, xp=namespace(x, params["W1"]) if xp is None else xp)


def stacked_step(params: Any, data: Any, idx: Any, xp: Any = None) -> Any:
    """One SGD step of K stacked nets: member k's mini-batch is row k of ``idx`` (K, batch), its
    parameters ``params[key][k]``, its rate ``lr[k]``; ``data = (x, t, lr, mask)``. The book's pass
    with batched matrix products, then :func:`sgd_update` member by member; members whose
    ``mask`` is False keep their parameters. Returns the K losses (before the update)."""
    x, t, lr, mask = data
    xp = namespace(x, params["W1"]) if xp is None else xp
    kk, b = idx.shape
    flat = xp.reshape(idx, (-1,))
    xb = xp.reshape(batch_rows(xp, x, flat), (kk, b, x.shape[1]))
    tb = xp.reshape(batch_rows(xp, t, flat), (kk, b, t.shape[1]))
    loss, grads = loss_and_gradient(params, xb, tb, xp=xp)
    sgd_update(params, grads, lr, mask, xp=xp)
    return loss
