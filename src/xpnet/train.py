"""Mini-batch SGD training with per-epoch accuracy: the book's loop, in the library.

``fit`` runs the chapter's experiment for any TwoLayerNet and returns a
:class:`History`. ``examples/train.py`` is a thin command line over it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import sys
import time

import numpy as np
import array_api_compat

from ._accel import accelerated, lookup
from ._io import atomic_write
from ._checks import check_labels, is_int, positive_int, positive_number, require_float
from .backend import backend_of, namespace, synchronize, to_numpy
from .functions import _cross_entropy_onehot, softmax, to_one_hot
from .nets import PARAM_NAMES
from .random import Rng

GRADS = ("backprop", "numerical")


@dataclasses.dataclass
class History:
    """What happened during :func:`fit`.

    Attributes:
        loss: loss of every iteration's mini-batch (before its update).
        epochs: one dict per evaluation: ``epoch``, ``iteration`` (updates
            done), ``loss``, ``train_acc``, ``test_acc``, ``seconds``.
        iterations: updates done.
        train_seconds: time spent in training steps (evaluation excluded).
        eval_seconds: time spent evaluating accuracy.
        stopped: None, or why training ended early (non-finite loss, Ctrl-C).
    """

    loss: list = dataclasses.field(default_factory=list)
    epochs: list = dataclasses.field(default_factory=list)
    iterations: int = 0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    stopped: str | None = None
    nonfinite_iteration: int | None = None
    config: dict = dataclasses.field(default_factory=dict)

    @property
    def iters_per_second(self) -> float:
        return self.iterations / self.train_seconds if self.train_seconds > 0 else float("nan")

    @property
    def final(self) -> dict:
        return self.epochs[-1] if self.epochs else {}

    def to_dict(self) -> dict:
        loss = [None if not math.isfinite(v) else v for v in self.loss]
        return {"config": self.config, "iterations": self.iterations, "train_seconds": self.train_seconds,
                "eval_seconds": self.eval_seconds, "iters_per_second": self.iters_per_second
                if self.train_seconds > 0 else None, "stopped": self.stopped,
                "nonfinite_iteration": self.nonfinite_iteration, "epochs": self.epochs, "loss": loss}

    def save(self, path) -> None:
        """Write the history as JSON (temp name, then rename)."""
        atomic_write(path, json.dumps(self.to_dict(), indent=1))

    def save_csv(self, path) -> None:
        """Per-epoch metrics as CSV (temp name, then rename)."""
        lines = ["epoch,iteration,loss,train_acc,test_acc,seconds"]
        for r in self.epochs:
            lines.append(f"{r['epoch']},{r['iteration']},{r['loss']!r},{r['train_acc']!r},"
                         f"{'' if r['test_acc'] is None else repr(r['test_acc'])},{r['seconds']:.3f}")
        atomic_write(path, "\n".join(lines) + "\n")


# ----------------------------------------------------------------- steppers

def sgd_update(xp, params, grads, lr):
    """``params[k] -= lr * grads[k]`` in place, for every parameter (the chapter's rule)."""
    fused = lookup("sgd_update", xp)
    if fused is not None and fused([params[k] for k in PARAM_NAMES], [grads[k] for k in PARAM_NAMES], lr):
        return
    for k in PARAM_NAMES:
        params[k] -= lr * grads[k]


def take_rows(xp, arrays, idx):
    """``xp.take(a, idx, axis=0)`` for each array: the mini-batch."""
    fused = lookup("take_rows", xp)
    out = None if fused is None else fused(arrays, idx)
    if out is not None:
        return out
    return tuple(xp.take(a, idx, axis=0) for a in arrays)


class IndexStream:
    """Mini-batch indices, drawn on the host in blocks and placed on the device.

    The sequence depends only on the seed (and batch size, train size), never on
    how the training loop chunks its work, so every path and backend sees the
    same batches.
    """

    def __init__(self, rng, train_size, batch_size, xp, device, block=10_000):
        self.rng, self.train_size, self.batch_size = rng, train_size, batch_size
        self.xp, self.device, self.block = xp, device, block
        self.buf, self.pos = None, 0

    def take(self, n):
        xp = self.xp
        pieces = []
        while n > 0:
            if self.buf is None or self.pos == self.buf.shape[0]:
                host = self.rng.integers(self.train_size, (self.block, self.batch_size), backend=False)
                self.buf, self.pos = xp.asarray(host, device=self.device), 0
            k = min(n, self.buf.shape[0] - self.pos)
            pieces.append(self.buf[self.pos:self.pos + k, ...])
            self.pos += k
            n -= k
        return pieces[0] if len(pieces) == 1 else xp.concat(pieces, axis=0)


class PlainStepper:
    """One step at a time, written with the array API (the reference path)."""

    def __init__(self, net, x, t_hot, lr, grad="backprop"):
        self.net, self.x, self.t_hot, self.lr, self.grad = net, x, t_hot, lr, grad
        self.xp = namespace(x, net.params["W1"])
        self.chunk = 1 if grad == "numerical" else 100  # iterations between reads of the loss

    def step(self, idx):
        xp, net = self.xp, self.net
        xb, tb = take_rows(xp, (self.x, self.t_hot), idx)
        if self.grad == "backprop":
            grads, loss = net._gradient(xp, xb, tb)
        else:
            grads = net.numerical_gradient(xb, tb, method="incremental")
            _, a2 = net._forward(xp, xb)
            loss = _cross_entropy_onehot(xp, softmax(a2), tb)
        sgd_update(xp, net.params, grads, self.lr)
        return loss

    def run(self, idx_rows):
        """Run one step per row of ``idx_rows`` (n, batch); return the n losses (device)."""
        xp = self.xp
        losses = [self.step(idx_rows[i, ...]) for i in range(idx_rows.shape[0])]
        return xp.stack([xp.reshape(v, ()) for v in losses])

    def close(self):
        pass


def make_stepper(net, x, t_hot, lr, grad, fast):
    xp = namespace(x, net.params["W1"])
    if fast and grad == "backprop" and backend_of(xp) == "cupy":
        from ._cuda.graph import GraphStepper
        return GraphStepper(net, x, t_hot, lr, steps_per_graph=10 if fast is True or fast == "auto" else int(fast))
    return PlainStepper(net, x, t_hot, lr, grad)


# ----------------------------------------------------------------- fit

def _prepare_data(net, x, t, name):
    xp = namespace(x, net.params["W1"])
    if not is_int(xp, x):  # integer images (uint8) are converted below
        require_float(xp, x, f"x_{name}")
    if x.ndim != 2 or x.shape[1] != net.input_size:
        raise ValueError(f"x_{name} must have shape (N, {net.input_size}) (flattened images), got {tuple(x.shape)}")
    if not array_api_compat.is_array_api_obj(t):
        t = xp.asarray(t)
    if t.ndim == 2:
        labels = xp.argmax(t, axis=1)
    elif is_int(xp, t) and t.ndim == 1:
        labels = t
    else:
        raise ValueError(f"t_{name} must be integer labels (N,) or one-hot (N, {net.output_size}), got shape {tuple(t.shape)}")
    if labels.shape[0] != x.shape[0]:
        raise ValueError(f"x_{name} has {x.shape[0]} rows but t_{name} has {labels.shape[0]} labels")
    check_labels(xp, labels, net.output_size, f"t_{name}")
    dt = net.params["W1"].dtype
    if x.dtype != dt:
        x = xp.astype(x, dt)
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError(f"x_{name} holds NaN or infinite values; clean the data first")
    return xp, x, labels


def fit(net, x_train, t_train, x_test=None, t_test=None, *, iters=10_000, batch_size=100, lr=0.1,
        grad="backprop", eval_every=None, seed=None, callbacks=(), progress=True, fast="auto",
        eval_batch=10_000, progress_file=None, evaluate=True):
    """Train ``net`` by mini-batch SGD as the book does, evaluating per epoch.

    Mini-batches are drawn as in the book (``batch_size`` indices with
    replacement per iteration), from ``numpy.random.default_rng(seed)`` on
    the host, so one seed gives the same batches on every backend. The loss
    of each iteration's batch is kept on the device and read once per
    chunk of iterations.

    Args:
        net: a TwoLayerNet; its parameters are updated in place.
        x_train, t_train: training images (N, input) and labels (integer or one-hot).
        x_test, t_test: optional test set for test accuracy.
        iters: number of updates (10,000 in the book).
        batch_size: mini-batch size (100).
        lr: learning rate (0.1).
        grad: ``"backprop"`` or ``"numerical"`` (incremental central differences).
        eval_every: iterations between accuracy evaluations (default: one
            epoch, ``max(N // batch_size, 1)``, as in the book).
        seed: seed of the mini-batch draws.
        callbacks: callables ``cb(record, history)`` called after each evaluation.
        progress: show a progress bar with rate and ETA.
        fast: ``"auto"`` (CUDA-graph path on CuPy), ``False`` (plain path,
            no fused kernels), or an int: steps per CUDA graph.
        eval_batch: rows per accuracy batch (evaluation stays on the device).
        progress_file: stream for the progress bar (stderr).
        evaluate: False skips the accuracy evaluations (benchmarks).

    Returns:
        History. Training stops early (``history.stopped``) when the loss
        turns NaN or infinite, or on Ctrl-C; what was done so far is kept.
    """
    iters = positive_int(iters, "iters")
    batch_size = positive_int(batch_size, "batch_size")
    positive_number(lr, "lr")
    if grad not in GRADS:
        raise ValueError(f"grad must be one of {', '.join(GRADS)}, got {grad!r}")
    xp, x_train, labels_train = _prepare_data(net, x_train, t_train, "train")
    train_size = x_train.shape[0]
    if batch_size > train_size:
        raise ValueError(f"batch_size ({batch_size}) is larger than the training set ({train_size} rows)")
    if (x_test is None) != (t_test is None):
        raise ValueError("give both x_test and t_test, or neither")
    if x_test is not None:
        _, x_test, labels_test = _prepare_data(net, x_test, t_test, "test")
    per_epoch = max(train_size // batch_size, 1)
    eval_every = per_epoch if eval_every is None else positive_int(eval_every, "eval_every")
    callbacks = list(callbacks)

    history = History(config={"iters": iters, "batch_size": batch_size, "lr": lr, "grad": grad,
                              "eval_every": eval_every, "per_epoch": per_epoch, "seed": seed, "train_size": train_size,
                              "test_size": None if x_test is None else x_test.shape[0],
                              "backend": backend_of(xp), "dtype": str(net.dtype)})
    indices = IndexStream(Rng(seed), train_size, batch_size, xp, array_api_compat.device(x_train),
                          block=max(1, min(10_000, iters, 50_000_000 // batch_size)))
    dt = net.params["W1"].dtype
    t_hot = to_one_hot(labels_train, net.output_size, dtype=dt)
    use_accel = fast is not False
    # evaluation after update i (0-based) when i % eval_every == 0, as the book; and after the last
    points = sorted({i + 1 for i in range(0, iters, eval_every)} | {iters})

    from tqdm.auto import tqdm
    bar = tqdm(total=iters, unit="it" if grad == "backprop" else "grad", disable=not progress,
               file=progress_file or sys.stderr, dynamic_ncols=True, smoothing=0.1)
    stream_ctx = _stream_context(xp)
    try:
        with stream_ctx, accelerated(use_accel):
            stepper = make_stepper(net, x_train, t_hot, lr, grad, fast)
            done = 0
            t_start = time.perf_counter()
            try:
                for point in points:
                    while done < point:
                        n = min(point - done, stepper.chunk)
                        t0 = time.perf_counter()
                        idx = indices.take(n)
                        losses = to_numpy(stepper.run(idx)).astype(np.float64)
                        history.train_seconds += time.perf_counter() - t0
                        bad = np.flatnonzero(~np.isfinite(losses))
                        if bad.size:
                            first = done + int(bad[0]) + 1
                            history.loss.extend(losses[: bad[0] + 1].tolist())
                            history.iterations = first
                            history.nonfinite_iteration = first
                            history.stopped = (f"the loss became {losses[bad[0]]} at iteration {first}; "
                                               f"the learning rate ({lr}) is probably too large: try --lr {lr / 10:g}")
                            bar.update(int(bad[0]) + 1)
                            return history
                        history.loss.extend(losses.tolist())
                        done += n
                        history.iterations = done
                        bar.update(n)
                        bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
                    if not evaluate:
                        continue
                    t0 = time.perf_counter()
                    train_acc = _accuracy(net, x_train, labels_train, eval_batch)
                    test_acc = None if x_test is None else _accuracy(net, x_test, labels_test, eval_batch)
                    history.eval_seconds += time.perf_counter() - t0
                    record = {"epoch": (point - 1) // per_epoch, "iteration": point,
                              "loss": history.loss[-1], "train_acc": train_acc, "test_acc": test_acc,
                              "seconds": time.perf_counter() - t_start}
                    history.epochs.append(record)
                    for cb in callbacks:
                        if progress:
                            with _tqdm_lock(bar):
                                cb(record, history)
                        else:
                            cb(record, history)
            except KeyboardInterrupt:
                history.stopped = f"interrupted (Ctrl-C) after {history.iterations} iterations"
            finally:
                stepper.close()
                synchronize(xp)
    finally:
        bar.close()
    return history


class _tqdm_lock:
    """Print cleanly above a live progress bar."""

    def __init__(self, bar):
        self.bar = bar

    def __enter__(self):
        self.bar.clear()

    def __exit__(self, *exc):
        self.bar.refresh()


def _accuracy(net, x, labels, batch):
    return float(net.correct_count(x, labels, batch_size=batch)) / x.shape[0]


@contextlib.contextmanager
def _stream_context(xp):
    """On CuPy, run the whole fit on one non-blocking stream (graphs need it)."""
    if backend_of(xp) != "cupy":
        yield None
        return
    import cupy
    cupy.cuda.Stream.null.synchronize()  # data placed before fit() is ready
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        try:
            yield stream
        finally:
            stream.synchronize()  # results visible to later work on any stream


class Trainer:
    """Object form of :func:`fit`: ``Trainer(net, **options).fit(x, t, x_test, t_test)``."""

    def __init__(self, net, **options):
        self.net = net
        self.options = options
        self.history = None

    def fit(self, x_train, t_train, x_test=None, t_test=None):
        self.history = fit(self.net, x_train, t_train, x_test, t_test, **self.options)
        return self.history
