"""The incremental numerical gradient of TwoLayerNet: central differences, redoing only what changes.

Every perturbed loss is a real evaluation of the loss at the perturbed
parameters, and the difference quotient is the book's
``(L(p + h) - L(p - h)) / 2h``. What is new is *which* work is redone:

* moving ``W1[i, j]`` (or ``b1[j]``) changes only hidden unit ``j``:
  ``a1[:, j] + h * x[:, i]`` (``x`` replaced by ones for ``b1``), hence
  ``z1[:, j]``, hence the output scores by ``dz * W2[j, :]``;
* moving ``W2[j, k]`` changes only score ``k``, by ``h * z1[:, j]``;
* moving ``b2[k]`` changes only score ``k``, by ``h``.

So every perturbed score matrix is ``a2 + dz[p, n] * w[p, k]`` (a rank-one
change per perturbation). The softmax and cross-entropy are then evaluated
for all perturbations of a chunk at once. Scores are shifted by the
unperturbed row maximum, which leaves the softmax unchanged and keeps
``exp`` from overflowing.
"""

from __future__ import annotations

import array_api_compat

from .backend import backend_of, faster, namespace
from .functions import log_delta, sigmoid_of

__all__ = ["incremental_gradient", "is_one_hot", "hidden_gradient", "w1_gradient", "output_gradient"]


def is_one_hot(xp, t) -> bool:
    """Whether the rows ``t`` are one-hot (a host read: asked where targets enter, never in a step)."""
    ones = xp.sum(xp.astype(t == 1, xp.int64))
    zeros = xp.sum(xp.astype(t == 0, xp.int64))
    return int(ones) == t.shape[0] and int(ones + zeros) == t.shape[0] * t.shape[1]


def _label_terms(xp, score, label_score, c):
    """Per-sample ``log(softmax[label] + delta)`` from shifted scores.

    ``score(k)`` is the (shifted) score of class k, ``label_score`` that of the
    label; the exponentials are summed over the classes in order.
    """
    total = None
    for k in range(c):
        e = xp.exp(score(k))
        total = e if total is None else total + e
    return log_delta(xp, xp.exp(label_score) / total)


class Point:
    """The unperturbed forward pass that every perturbation changes a little.

    Attributes: ``x`` (N, D), ``xt`` (D, N), ``a1``/``z1`` (N, H) and their
    transposes ``a1t``/``z1t``, ``W2`` (H, C), ``a2c`` (N, C): the scores
    shifted by their row maximum, ``t``, ``one_hot`` (given by the caller, who
    knows the targets), and for one-hot targets ``labels`` (N,) and ``a2c_label``
    (N,): the label's shifted score.
    """

    def __init__(self, xp, params, x, t, one_hot):
        self.xp, self.x, self.t, self.W2 = xp, x, t, params["W2"]
        self.a1 = xp.matmul(x, params["W1"]) + params["b1"]
        self.z1 = sigmoid_of(self.a1)
        a2 = xp.matmul(self.z1, params["W2"]) + params["b2"]
        self.a1t = xp.matrix_transpose(self.a1)  # (H, N)
        self.z1t = xp.matrix_transpose(self.z1)
        self.xt = xp.matrix_transpose(x)  # (D, N)
        self.n, self.c = a2.shape
        self.a2c = a2 - xp.max(a2, axis=1, keepdims=True)  # (N, C)
        self.one_hot = bool(one_hot)
        self.sparse = False  # set by incremental_gradient
        if self.one_hot:
            self.labels = xp.argmax(t, axis=1)
            self.a2c_label = xp.sum(self.a2c * t, axis=1)  # score of the label, exact

    def losses(self, dz, w):
        """Loss of ``softmax(a2 + dz * w)`` against t for a stack of rank-one changes.

        dz: (..., N) change of a hidden quantity; w: (..., C) its weights.
        Returns the losses, shape broadcast(dz.shape[:-1], w.shape[:-1]).
        """
        xp = self.xp
        if self.one_hot:
            w_label = xp.take(w, self.labels, axis=-1)  # (..., N)
            terms = _label_terms(
                xp, lambda k: self.a2c[:, k] + dz * w[..., k : k + 1], self.a2c_label + dz * w_label, self.c
            )
        else:
            total = None
            for k in range(self.c):
                e = xp.exp(self.a2c[:, k] + dz * w[..., k : k + 1])
                total = e if total is None else total + e
            terms = None
            for k in range(self.c):
                e = xp.exp(self.a2c[:, k] + dz * w[..., k : k + 1])
                term = self.t[:, k] * log_delta(xp, e / total)
                terms = term if terms is None else terms + term
        return -xp.sum(terms, axis=-1) / self.n


def incremental_gradient(params, x, t, h=1e-4, batch="auto", xp=None, one_hot=None, sparse=None):
    """Central-difference gradient of the net's loss for every parameter.

    Args:
        params: dict ``W1, b1, W2, b2``.
        x: (N, input) floating batch; t: (N, output) one-hot or soft targets
            (both checked by the caller).
        h: step.
        batch: perturbations per chunk, or ``"auto"``.
        xp: the namespace (from the arrays by default).
        one_hot: whether ``t`` is one-hot (None: read from ``t``, a host read; a
            training step says it, since its targets are one-hot by construction).
        sparse: whether d loss / d W1 visits only the nonzero inputs (a data-dependent
            shape): None decides here (:func:`sparse_pays`, a host read); a training step
            decides once for the run, so that the step itself reads nothing back.

    Returns:
        dict ``W1, b1, W2, b2`` of gradients.
    """
    xp = namespace(x, params["W1"]) if xp is None else xp
    backend = backend_of(xp)
    with backend.on_device(array_api_compat.device(x)):  # CuPy makes new arrays on the current device
        point = Point(xp, params, x, t, is_one_hot(xp, t) if one_hot is None else one_hot)
        point.sparse = point.one_hot and (sparse_pays(xp, x) if sparse is None else bool(sparse))
        n, d = x.shape
        hidden = params["W1"].shape[1]
        if batch == "auto":
            # about 12 temporaries of (rows, H, N) per chunk; on the host each of them small
            # enough to stay in cache (and under glibc's 128 KiB mmap threshold)
            row_bytes = hidden * n * (4 if "float32" in str(x.dtype) else 8) * 12
            rows = backend.chunk_size(row_bytes, cap=d, host_bytes=12 * 2**17)
        elif isinstance(batch, int) and not isinstance(batch, bool) and batch >= 1:
            rows = max(1, batch // hidden)
        else:
            raise ValueError(f"batch must be a positive int or 'auto', got {batch!r}")
        ones = xp.ones((1, n), dtype=x.dtype, device=array_api_compat.device(x))
        grads = {
            "W1": w1_gradient(point, h, rows, xp=xp),
            "b1": xp.reshape(hidden_gradient(point, ones, h, xp=xp), (hidden,)),
        }
        grads["W2"], grads["b2"] = output_gradient(point, h, xp=xp)
        dt = params["W1"].dtype
        return {k: xp.astype(grads[k], dt) for k in ("W1", "b1", "W2", "b2")}


def hidden_gradient(point, xrows, h, xp=None):
    """Gradient rows ``(R, H)`` of the parameters that feed the hidden layer with inputs
    ``xrows`` ``(R, N)`` (rows of x transposed for W1; a row of ones for b1)."""
    fast = faster(xp).hidden_gradient(point, xrows, h, xp)
    if fast is not NotImplemented:
        return fast
    n = point.n
    w2 = xp.reshape(point.W2, (1, *point.W2.shape))
    out = []
    for sign in (1.0, -1.0):
        a1p = point.a1t + (sign * h) * xp.reshape(xrows, (xrows.shape[0], 1, n))
        dz = sigmoid_of(a1p) - point.z1t
        out.append(point.losses(dz, w2))
    return (out[0] - out[1]) / (2 * h)


def w1_gradient(point, h, rows, xp=None):
    """d loss / d W1 ``(D, H)``, ``rows`` inputs at a time; only the nonzero pixels
    when most inputs are zero (MNIST: about 80%) and the targets are one-hot."""
    fast = faster(xp).w1_gradient(point, h, rows, xp)
    if fast is not NotImplemented:
        return fast
    d, n = point.xt.shape
    if point.sparse:  # decided where the gradient was asked for (sparse_pays), never here
        return _sparse_w1(xp, point, h, rows * n)
    pieces = backend_of(xp).parallel_map(
        lambda i: hidden_gradient(point, point.xt[i : min(i + rows, d), ...], h, xp=xp), range(0, d, rows)
    )
    return _concat(xp, pieces)


def output_gradient(point, h, xp=None):
    """d loss / d W2 ``(H, C)`` and d loss / d b2 ``(C,)``."""
    fast = faster(xp).output_gradient(point, h, xp)
    if fast is not NotImplemented:
        return fast
    hidden, c, n = point.W2.shape[0], point.c, point.n
    dev = array_api_compat.device(point.x)
    eye = xp.reshape(xp.eye(c, dtype=point.x.dtype, device=dev), (1, c, c))
    zcol = xp.reshape(point.z1t, (hidden, 1, n))
    g_w2 = (point.losses(h * zcol, eye) - point.losses(-h * zcol, eye)) / (2 * h)
    one = xp.ones((1, n), dtype=point.x.dtype, device=dev)
    eye2 = xp.reshape(eye, (c, c))
    g_b2 = (point.losses(h * one, eye2) - point.losses(-h * one, eye2)) / (2 * h)
    return g_w2, g_b2


def sparse_pays(xp, x):
    """Whether the sparse d loss / d W1 pays for inputs like ``x`` (at most 70% nonzero, as MNIST's
    80% zeros): only where arrays live on the host and may have data-dependent shapes (NumPy; not
    CuPy, where ``nonzero`` syncs with the host and breaks a CUDA graph capture). One host read."""
    if backend_of(xp).memory_budget() is not None or not _data_dependent_shapes(xp):
        return False
    nonzero = int(xp.sum(xp.astype(x != 0, xp.int64)))
    return nonzero <= 0.7 * x.shape[0] * x.shape[1]


def _data_dependent_shapes(xp):
    """Whether the library gives arrays whose shape depends on values (``nonzero``): the sparse
    path needs it; without it (JAX, array-api-strict so configured) the dense path runs."""
    info = getattr(xp, "__array_namespace_info__", None)
    if info is None:
        return True
    return bool(info().capabilities().get("data-dependent shapes", True))


def _concat(xp, pieces):
    return xp.concat(pieces, axis=0) if len(pieces) > 1 else pieces[0]


def _sparse_w1(xp, point, h, pairs_per_chunk):
    """d loss / d W1 when many inputs are zero (MNIST: about 80% of the pixels).

    Moving W1[i, j] changes nothing for a sample n with x[n, i] == 0, so its term
    of the loss is reused; only the pairs (i, n) with x[n, i] != 0 are
    recomputed. Each perturbed loss is then ``L0 - sum(changed terms - old terms) / N``:
    the full loss at the perturbed parameters, its unchanged terms reused.
    """
    xt, a1, z1, w2 = point.xt, point.a1, point.z1, point.W2
    d, n = xt.shape
    hidden = a1.shape[1]
    a2c, labels = point.a2c, point.labels
    # per-sample term log(softmax[label] + delta) at the current parameters, as Point.losses computes it
    term0 = _label_terms(xp, lambda k: a2c[:, k], point.a2c_label, point.c)
    loss0 = -xp.sum(term0) / n
    pi, pn = xp.nonzero(xt)  # row-major: pairs sorted by input i
    count = pi.shape[0]
    xv = xp.take(xp.reshape(xt, (-1,)), pi * n + pn)
    w2_label = xp.matrix_transpose(xp.take(w2, labels, axis=1))  # (N, H): W2[:, label[n]]

    def chunk(start):
        stop = min(start + pairs_per_chunk, count)
        sel_n = pn[start:stop]
        a1p = xp.take(a1, sel_n, axis=0)  # (P, H)
        z1p = xp.take(z1, sel_n, axis=0)
        a2p = xp.take(a2c, sel_n, axis=0)  # (P, C)
        a2l = xp.reshape(xp.take(point.a2c_label, sel_n), (-1, 1))
        wl = xp.take(w2_label, sel_n, axis=0)  # (P, H)
        old = xp.reshape(xp.take(term0, sel_n), (-1, 1))
        step = xp.reshape(xv[start:stop], (-1, 1))
        out = []
        for sign in (1.0, -1.0):
            dz = sigmoid_of(a1p + (sign * h) * step) - z1p
            terms = _label_terms(xp, lambda k, dz=dz: a2p[:, k : k + 1] + dz * w2[:, k], a2l + dz * wl, point.c)
            out.append(terms - old)
        return out

    parts = backend_of(xp).parallel_map(chunk, range(0, count, max(1, pairs_per_chunk)))
    per_row = xp.sum(xp.astype(xt != 0, xp.int64), axis=1)
    ends = xp.cumulative_sum(per_row)
    grads = []
    for which in (0, 1):
        if count:
            vals = _concat(xp, [part[which] for part in parts])
            cs = xp.cumulative_sum(vals, axis=0, include_initial=True)  # (P + 1, H)
        else:
            cs = xp.zeros((1, hidden), dtype=a1.dtype, device=array_api_compat.device(a1))
        seg = xp.take(cs, ends, axis=0) - xp.take(cs, ends - per_row, axis=0)  # (D, H)
        grads.append(loss0 - seg / n)  # the perturbed losses
    return (grads[0] - grads[1]) / (2 * h)
