"""One SGD step, for one net and for K stacked nets: the chapter's update, written once.

``sgd_step`` is the body of the book's loop (the mini-batch, its loss and gradient,
the update). ``stacked_step`` is the same for K nets whose parameters are stacked
along a leading axis (``fit_many``). Both end in :func:`sgd_update`, the chapter's
rule ``params[key] -= lr * grads[key]``. A change to the update (momentum, say) is
made here; backends that run the step their own way find it from here:

* NumPy replaces ``nets.loss_and_gradient`` (in-place ufuncs) and keeps this update;
* the CUDA backend replaces :func:`sgd_step` (its ``fused.py``: fused kernels and an
  ``sgd_update`` kernel) and captures it in CUDA graphs;
* JAX compiles :func:`step_of_data` (or :func:`stacked_step`) and scans it
  (``accel/jax/api.py``).

``REPLACEMENTS`` of each ``accel/<name>/api.py`` is keyed by the function objects
below, so moving them moves their replacements with them.
"""

from __future__ import annotations

from .accel.contract import replaceable
from .backend import namespace
from .functions import cross_entropy_error
from .nets import PARAM_NAMES, forward, loss_and_gradient
from .incremental_numgrad import incremental_gradient

__all__ = ["sgd_update", "sgd_step", "numerical_step", "stacked_step", "step_of_data"]


def sgd_update(params, grads, lr, mask=None, xp=None):
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


@replaceable
def sgd_step(params, x, t, idx, lr, xp=None):
    """One iteration of the book's loop: the mini-batch, its loss and gradient, the update.

    Updates ``params`` in place (:func:`sgd_update`) and returns the mini-batch's loss
    (0-d array, before the update).
    """
    x_batch = xp.take(x, idx, axis=0)
    t_batch = xp.take(t, idx, axis=0)
    loss, grads = loss_and_gradient(params, x_batch, t_batch, xp=xp)
    sgd_update(params, grads, lr, xp=xp)
    return loss


def numerical_step(params, x, t, idx, lr, xp=None):
    """:func:`sgd_step` with the gradient by (incremental) central differences."""
    x_batch = xp.take(x, idx, axis=0)
    t_batch = xp.take(t, idx, axis=0)
    grads = incremental_gradient(params, x_batch, t_batch, xp=xp)
    loss = cross_entropy_error(forward(params, x_batch, xp=xp)[3], t_batch)
    sgd_update(params, grads, lr, xp=xp)
    return loss


def step_of_data(params, data, idx, xp=None):
    """:func:`sgd_step` as a function of the parameters, ``data = (x, t, lr)`` and the indices:
    one function for every run, so a backend can compile it once (the learning rate is data)."""
    x, t, lr = data
    return sgd_step(params, x, t, idx, lr, xp=namespace(x, params["W1"]) if xp is None else xp)


def stacked_step(params, data, idx, xp=None):
    """One SGD step of K stacked nets: member k's mini-batch is row k of ``idx`` (K, batch), its
    parameters ``params[key][k]``, its rate ``lr[k]``; ``data = (x, t, lr, mask)``. The book's pass
    with batched matrix products, then :func:`sgd_update` member by member; members whose
    ``mask`` is False keep their parameters. Returns the K losses (before the update)."""
    x, t, lr, mask = data
    xp = namespace(x, params["W1"]) if xp is None else xp
    kk, b = idx.shape
    flat = xp.reshape(idx, (-1,))
    xb = xp.reshape(xp.take(x, flat, axis=0), (kk, b, x.shape[1]))
    tb = xp.reshape(xp.take(t, flat, axis=0), (kk, b, t.shape[1]))
    loss, grads = loss_and_gradient(params, xb, tb, xp=xp)
    sgd_update(params, grads, lr, mask, xp=xp)
    return loss
