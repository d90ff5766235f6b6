"""Mini-batch SGD training with per-epoch accuracy: the book's loop, in the library.

``fit`` runs the chapter's experiment for any TwoLayerNet and returns a
:class:`History`. ``examples/train.py`` is a thin command line over it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import time
from typing import IO, Any, Callable, Iterable

import numpy as np
import array_api_compat

from . import _progress, accel
from ._checks import is_int, positive_int, positive_number, prepare, require_float, targets
from ._io import atomic_write
from ._typing import ArrayLike
from .accel import replaceable
from .backend import backend_of, namespace, synchronize, to_numpy
from .constants import DELTA
from .functions import cross_entropy_error, to_one_hot
from .nets import PARAM_NAMES, TwoLayerNet, forward, loss_and_gradient
from .numgrad import incremental_gradient
from .random import Rng

__all__ = ["fit", "History", "sgd_step", "numerical_step", "IndexStream", "Steps", "evaluation_points"]

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
        stopped: None, or why training ended early (a non-finite or diverged
            loss, Ctrl-C, SIGTERM or SIGHUP under the command line).
        nonfinite_iteration: the iteration whose loss went non-finite or diverged.
        signal: the signal number that stopped training (None for Ctrl-C or none).

    ``iterations`` is always the number of updates the parameters hold: a
    stopped run keeps the parameters from before the iteration that went wrong,
    and an interrupted chunk of steps is rolled back.
    """

    loss: list = dataclasses.field(default_factory=list)
    epochs: list = dataclasses.field(default_factory=list)
    iterations: int = 0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    stopped: str | None = None
    nonfinite_iteration: int | None = None
    signal: int | None = None
    config: dict = dataclasses.field(default_factory=dict)

    def mark(self) -> tuple:
        """What the training record holds now, for :meth:`rewind` (a chunk of steps that is
        interrupted before it is fully recorded leaves no trace)."""
        return (len(self.loss), self.iterations, self.train_seconds, self.stopped, self.nonfinite_iteration)

    def rewind(self, mark: tuple) -> None:
        """Back to what :meth:`mark` saw."""
        del self.loss[mark[0]:]
        self.iterations, self.train_seconds, self.stopped, self.nonfinite_iteration = mark[1:]

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
                "nonfinite_iteration": self.nonfinite_iteration, "signal": self.signal, "epochs": self.epochs,
                "loss": loss}

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


# ----------------------------------------------------------------- one step

@replaceable
def sgd_step(params, x, t, idx, lr, xp=None):
    """One iteration of the book's loop: the mini-batch, its loss and gradient, the update.

    Updates ``params`` in place (``params[key] -= lr * grads[key]``, the
    chapter's rule) and returns the mini-batch's loss (0-d array, before
    the update).
    """
    x_batch = xp.take(x, idx, axis=0)
    t_batch = xp.take(t, idx, axis=0)
    loss, grads = loss_and_gradient(params, x_batch, t_batch, xp=xp)
    for key in PARAM_NAMES:
        params[key] -= lr * grads[key]
    return loss


def numerical_step(params, x, t, idx, lr, xp=None):
    """:func:`sgd_step` with the gradient by (incremental) central differences."""
    x_batch = xp.take(x, idx, axis=0)
    t_batch = xp.take(t, idx, axis=0)
    grads = incremental_gradient(params, x_batch, t_batch, xp=xp)
    loss = cross_entropy_error(forward(params, x_batch, xp=xp)[3], t_batch)
    for key in PARAM_NAMES:
        params[key] -= lr * grads[key]
    return loss


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


class Steps:
    """Runs a step function once per row of indices (the reference path).

    ``chunk``: iterations between reads of the loss on the host; ``shape``: of one step's
    loss (``(K,)`` for K stacked nets).
    """

    def __init__(self, step, xp, chunk=100, shape=()):
        self.step, self.xp, self.chunk, self.shape = step, xp, chunk, shape

    def run(self, idx_rows):
        """Run one step per row of ``idx_rows`` (n, batch); return the losses (n, *shape) (on the device)."""
        xp = self.xp
        losses = [self.step(idx_rows[i, ...]) for i in range(idx_rows.shape[0])]
        return xp.stack([xp.reshape(v, self.shape) for v in losses])

    def close(self):
        pass


def make_stepper(xp, params, x, t_hot, lr, grad, fast):
    """The backend's stepper for backprop when it has one (CUDA graphs, JAX scans), else :class:`Steps`."""
    if grad == "numerical":
        return Steps(functools.partial(numerical_step, params, x, t_hot, lr=lr, xp=xp), xp, chunk=1)

    data = (x, t_hot, lr)
    fast_steps = None if fast is False else accel.stepper(xp, step_of_data, params, data, fast)
    return fast_steps or Steps(lambda idx: step_of_data(params, data, idx, xp=xp), xp)


def step_of_data(params, data, idx, xp=None):
    """:func:`sgd_step` as a function of the parameters, ``data = (x, t, lr)`` and the indices:
    one function for every run, so a backend can compile it once (the learning rate is data)."""
    x, t, lr = data
    return sgd_step(params, x, t, idx, lr, xp=namespace(x, params["W1"]) if xp is None else xp)


# ----------------------------------------------------------------- fit

def prepare_data(net, x, t, name):
    """``(xp, x, labels)``: x checked and in the net's dtype, labels checked (int64)."""
    xp, x = prepare(**{f"x_{name}": x})
    xp = namespace(x, net.params["W1"])
    if not is_int(xp, x):  # integer images (uint8) are converted below
        require_float(xp, x, f"x_{name}")
    if x.ndim != 2 or x.shape[1] != net.input_size:
        raise ValueError(f"x_{name} must have shape (N, {net.input_size}) (flattened images), got {tuple(x.shape)}")
    labels, _ = targets(xp, t, x.shape[0], net.output_size, form="labels", name=f"t_{name}")
    dt = net.params["W1"].dtype
    if x.dtype != dt:
        x = xp.astype(x, dt)
    if not bool(xp.all(xp.isfinite(x))):
        raise ValueError(f"x_{name} holds NaN or infinite values; clean the data first")
    return xp, x, labels


def prepare_run(net, x_train, t_train, x_test, t_test, batch_size, eval_every):
    """The checks and forms every training run starts with (``fit``, ``fit_many``):
    ``(xp, x_train, labels_train, test or None, per_epoch, eval_every)``."""
    xp, x_train, labels_train = prepare_data(net, x_train, t_train, "train")
    train_size = x_train.shape[0]
    if batch_size > train_size:
        raise ValueError(f"batch_size ({batch_size}) is larger than the training set ({train_size} rows)")
    if (x_test is None) != (t_test is None):
        raise ValueError("give both x_test and t_test, or neither")
    test = None if x_test is None else prepare_data(net, x_test, t_test, "test")[1:]
    per_epoch = max(train_size // batch_size, 1)
    eval_every = per_epoch if eval_every is None else positive_int(eval_every, "eval_every")
    return xp, x_train, labels_train, test, per_epoch, eval_every


def evaluation_points(iters, eval_every):
    """Iterations after which accuracy is evaluated: after update i (0-based) when
    ``i % eval_every == 0``, as the book does, and after the last (made one at a time)."""
    last = 0
    for i in range(0, iters, eval_every):
        last = i + 1
        yield last
    if last != iters:
        yield iters


def fit(net: "TwoLayerNet", x_train: ArrayLike, t_train: ArrayLike, x_test: ArrayLike = None,
        t_test: ArrayLike = None, *, iters: int = 10_000, batch_size: int = 100, lr: float = 0.1,
        grad: str = "backprop", eval_every: int | None = None, seed: int | None = None,
        callbacks: Iterable[Callable[[dict, "History"], Any]] = (), progress: bool | None = None,
        fast: bool | int | str = "auto", eval_batch: int = 10_000, progress_file: IO[str] | None = None,
        evaluate: bool = True, blas_threads: int | None = None) -> "History":
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
        seed: seed of the mini-batch draws; None draws them from NumPy's
            global random state, one ``np.random.choice(N, batch_size)`` per
            iteration as the book's loop does.
        callbacks: callables ``cb(record, history)`` called after each evaluation.
        progress: a progress bar with rate and ETA: ``None`` (default) when
            ``progress_file`` (stderr) is a terminal, ``True`` always,
            ``False`` never; ``TQDM_DISABLE`` switches it off, as in tqdm.
        fast: ``"auto"`` (the backend's fast path: CUDA graphs and fused kernels
            on CuPy, the step compiled once and scanned on JAX), ``False`` (the
            plain path: one Array-API step at a time, no replacements), or an
            int: steps per CUDA graph or scan.
        eval_batch: rows per accuracy batch (evaluation stays on the device).
        progress_file: stream for the progress bar (stderr).
        evaluate: False skips the accuracy evaluations (benchmarks).
        blas_threads: BLAS threads for the steps on the CPU: None chooses
            from the step's size (one thread at the book's size, where more
            only lose time on a busy machine; ``XPNET_BLAS_THREADS`` overrides
            the choice); an int sets it. No effect on a GPU.

    Returns:
        History. Training stops early (``history.stopped``) when the loss
        turns NaN or infinite or diverges, or on Ctrl-C (and SIGTERM or SIGHUP
        under the command line); the parameters then hold exactly the
        ``history.iterations`` updates the history records.
    """
    iters = positive_int(iters, "iters")
    batch_size = positive_int(batch_size, "batch_size")
    positive_number(lr, "lr")
    eval_batch = positive_int(eval_batch, "eval_batch")
    if blas_threads is not None:
        blas_threads = positive_int(blas_threads, "blas_threads")
    if grad not in GRADS:
        raise ValueError(f"grad must be one of {', '.join(GRADS)}, got {grad!r}")
    xp, x_train, labels_train, test, per_epoch, eval_every = prepare_run(net, x_train, t_train, x_test, t_test,
                                                                         batch_size, eval_every)
    train_size = x_train.shape[0]

    history = History(config={"iters": iters, "batch_size": batch_size, "lr": lr, "grad": grad,
                              "eval_every": eval_every, "per_epoch": per_epoch, "seed": seed, "train_size": train_size,
                              "test_size": None if test is None else test[0].shape[0],
                              "backend": backend_of(xp), "dtype": str(net.dtype)})
    indices = IndexStream(Rng(seed), train_size, batch_size, xp, array_api_compat.device(x_train),
                          block=index_block(iters, batch_size))
    t_hot = to_one_hot(labels_train, net.output_size, dtype=net.params["W1"].dtype)
    bar = _progress.bar(progress, progress_file, total=iters, unit="it" if grad == "backprop" else "grad",
                        dynamic_ncols=True, smoothing=0.1)
    run = _Run(net, history, bar, lr, list(callbacks), eval_batch, (x_train, labels_train), test)
    threads = accel.cpu_threads(xp, step_flops(net, batch_size), grad, blas_threads)
    history.config["blas_threads"] = threads
    try:
        with accel.device_scope(xp), accel.cpu_thread_scope(xp, threads), accel.accelerated(fast is not False):
            stepper = make_stepper(xp, net.params, x_train, t_hot, lr, grad, fast)
            try:
                for point in evaluation_points(iters, eval_every):
                    if not run.train_to(point, stepper, indices):
                        break
                    if evaluate:
                        run.evaluate(point, per_epoch)
            except KeyboardInterrupt as exc:
                why = getattr(exc, "signal_name", "Ctrl-C")
                history.stopped = f"interrupted ({why}) after {history.iterations} iterations"
                history.signal = getattr(exc, "signal_number", None)
            finally:
                stepper.close()
                synchronize(xp)
    finally:
        bar.close()
    return history


class _Run:
    """The state of one ``fit``: steps up to an evaluation point, then evaluates."""

    def __init__(self, net, history, bar, lr, callbacks, eval_batch, train, test):
        self.net, self.history, self.bar, self.lr = net, history, bar, lr
        self.callbacks, self.eval_batch = callbacks, eval_batch
        self.train, self.test = train, test
        self.t_start = time.perf_counter()

    def train_to(self, point, stepper, indices):
        """Step until ``point`` updates are done; False when training stopped (non-finite or diverged).

        The parameters are copied before each chunk of steps, so that whatever
        stops a chunk (a non-finite or diverging loss, Ctrl-C, a signal) leaves
        them holding exactly the updates the history records.
        """
        history = self.history
        while history.iterations < point:
            n = min(point - history.iterations, stepper.chunk)
            idx = indices.take(n)
            snapshot, mark = _copy_params(self.net.params), history.mark()
            try:  # Ctrl-C anywhere before the chunk is recorded: neither parameters nor history keep it
                t0 = time.perf_counter()
                losses = to_numpy(stepper.run(idx)).astype(np.float64)
                seconds = time.perf_counter() - t0
                stop = first_bad(losses)
                if stop is None and not _all_finite(self.net.params):
                    stop = (n - 1, "the parameters")  # finite losses, but the last updates overflowed
                if stop is not None:
                    self._stop(losses, *stop, snapshot, stepper, idx)
                else:
                    history.loss.extend(losses.tolist())
                    history.iterations += n
                history.train_seconds += seconds
            except KeyboardInterrupt:
                _restore_params(self.net.params, snapshot)
                history.rewind(mark)
                raise
            if stop is not None:
                self.bar.update(history.iterations - mark[1] + 1)
                return False
            self.bar.update(n)
            self.bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
        return True

    def _stop(self, losses, bad, what, snapshot, stepper, idx):
        """Stop at chunk position ``bad``: keep the parameters from before it, record its loss."""
        history, lr = self.history, self.lr
        first = history.iterations + bad + 1  # the iteration that went wrong
        _restore_params(self.net.params, snapshot)
        if bad:
            stepper.run(idx[:bad, ...])  # replay the good steps: the parameters before iteration `first`
        if not _all_finite(self.net.params):  # an earlier update had overflowed already
            _restore_params(self.net.params, snapshot)
            bad = 0
        history.loss.extend(losses[: bad + 1].tolist())
        history.iterations = history.iterations + bad
        history.nonfinite_iteration = first
        history.stopped = stop_message(first, losses[min(bad, len(losses) - 1)], what, lr, history.iterations)

    def evaluate(self, point, per_epoch):
        """Accuracy on the training (and test) set; one record; the callbacks."""
        history = self.history
        t0 = time.perf_counter()
        train_acc = _accuracy(self.net, *self.train, self.eval_batch)
        test_acc = None if self.test is None else _accuracy(self.net, *self.test, self.eval_batch)
        history.eval_seconds += time.perf_counter() - t0
        record = {"epoch": (point - 1) // per_epoch, "iteration": point, "loss": history.loss[-1],
                  "train_acc": train_acc, "test_acc": test_acc, "seconds": time.perf_counter() - self.t_start}
        history.epochs.append(record)
        for cb in self.callbacks:
            with _above_bar(None if self.bar.disable else self.bar):
                cb(record, history)


#: A chunk whose median loss reaches this has diverged: half the loss's ceiling -log(1e-7) = 16.1, where
#: the typical sample's label gets a probability below 3e-4. Chance level is log(10) = 2.3; on MNIST
#: learning rates up to 10 keep chunk medians below it, and 30 or more stick at 14.5.
DIVERGED_LOSS = 0.5 * -math.log(DELTA)


def first_bad(losses):
    """``(position, what)`` of the first non-finite loss, or of the first diverged one in a
    chunk whose median loss has diverged; None when the chunk is fine."""
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        return int(bad[0]), "the loss"
    if losses.size and float(np.median(losses)) >= DIVERGED_LOSS:
        return int(np.flatnonzero(losses >= DIVERGED_LOSS)[0]), "the loss"
    return None


def stop_message(first, value, what, lr, kept):
    """One line for a run stopped at iteration ``first``: what went wrong (``what`` and the loss
    ``value`` there), a hint, and how many updates the kept parameters hold."""
    if what == "the parameters":
        cause = f"the parameters became NaN or infinite at iteration {first}"
    elif math.isfinite(value):
        cause = (f"the loss diverged at iteration {first} ({value:.4g}: the network is confidently wrong "
                 f"on almost every sample)")
    else:
        cause = f"the loss became {value} at iteration {first}"
    return (f"{cause}; the learning rate ({lr}) is probably too large: try --lr {lr / 10:g}. "
            f"Kept the parameters after {kept} iterations")


def _copy_params(params):
    return {k: array_api_compat.array_namespace(v).asarray(v, copy=True) for k, v in params.items()}


def _restore_params(params, saved):
    """Put ``saved`` back into ``params``: in place where arrays can change (buffers a CUDA graph
    recorded stay valid), else by rebinding (JAX)."""
    for k, v in saved.items():
        if array_api_compat.is_writeable_array(params[k]):
            params[k][...] = v
        else:
            params[k] = v


def _all_finite(params):
    for v in params.values():
        xp = array_api_compat.array_namespace(v)
        if not bool(xp.all(xp.isfinite(v))):
            return False
    return True


def index_block(iters, batch_size):
    """Rows of mini-batch indices drawn at a time (fixed by the run's settings, so a seed
    gives the same batches to ``fit`` and to ``fit_many``)."""
    return max(1, min(10_000, iters, 50_000_000 // batch_size))


def step_flops(net, batch_size):
    """Floating-point operations of one backprop step (its three large matrix products)."""
    return 2 * batch_size * net.hidden_size * (2 * net.input_size + 2 * net.output_size)


@contextlib.contextmanager
def _above_bar(bar):
    """Print cleanly above a live progress bar."""
    if bar is None:
        yield
        return
    bar.clear()
    try:
        yield
    finally:
        bar.refresh()


def _accuracy(net, x, labels, batch):
    return float(net.correct_count(x, labels, batch_size=batch)) / x.shape[0]
