"""Mini-batch SGD training with per-epoch accuracy: the book's loop, in the library.

``fit`` checks its arguments and data (:func:`check_options`, :func:`prepare_run`, shared
with ``fit_many``), then runs one net in the run loop (``runloop.run_one``) and returns its
:class:`History`. ``xpnet train`` and ``examples/train.py`` are command lines over it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable
from typing import IO, Any

from . import _progress
from ._checks import fast_value, is_int, positive_int, positive_number, prepare, require_float, seed_value, targets
from ._typing import Array, ArrayLike
from .backend import backend_of
from .checkpoint import Checkpoint, Keeper, as_checkpoint, fingerprints, same_data
from .checkpoint import load as load_checkpoint
from .history import History, new_history
from .live import LiveCurves, require_notebook
from .nets import TwoLayerNet
from .plots import plot_accuracy, plot_loss
from .runloop import IndexStream, Plan, Prepared, Steps, evaluation_points, run_one
from .steps import numerical_step, sgd_step

__all__ = [
    "fit",
    "resume",
    "History",
    "Prepared",
    "prepare_run",
    "check_options",
    "sgd_step",
    "numerical_step",
    "IndexStream",
    "Steps",
    "evaluation_points",
]

GRADS = ("backprop", "numerical")


def prepare_data(net: Any, x: Array, t: Array, name: Any) -> Any:
    """``(xp, x, labels)``: x checked and in the net's dtype, labels checked (int64)."""
    xp, x, _ = prepare(**{f"x_{name}": x, "W1": net.params["W1"]})  # one library, one device
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


def check_net(net: Any) -> TwoLayerNet:
    """``net`` when it is a TwoLayerNet; a TypeError naming what it is and the fix otherwise."""
    if isinstance(net, TwoLayerNet):
        return net
    if type(net).__name__ == "SimpleNet":
        raise TypeError(
            "net must be a TwoLayerNet; SimpleNet is chapter 4's one-layer example, trained with "
            "gradient_descent (see examples/), not fit"
        )
    raise TypeError(f"net must be a TwoLayerNet, such as xpnet.TwoLayerNet(784, 50, 10); got {type(net).__name__}")


def check_callbacks(callbacks: Any) -> list:
    """The callbacks as a list, each callable as ``cb(record, history)``, checked before any training."""
    if callable(callbacks) or isinstance(callbacks, (str, bytes)):
        raise TypeError("callbacks must be a list of callables cb(record, history); wrap one in a list: [cb]")
    try:
        found = list(callbacks)
    except TypeError:
        raise TypeError(f"callbacks must be a list of callables cb(record, history), got {callbacks!r}") from None
    for i, cb in enumerate(found):
        if not callable(cb):
            raise TypeError(f"callbacks[{i}] must be callable as cb(record, history), got {cb!r}")
    return found


def prepare_run(
    net: TwoLayerNet,
    x_train: ArrayLike,
    t_train: ArrayLike,
    x_test: ArrayLike,
    t_test: ArrayLike,
    batch_size: int,
    eval_every: int | None,
) -> Prepared:
    """The checks and forms every training run starts with (``fit``, ``fit_many``)."""
    xp, x_train, labels_train = prepare_data(net, x_train, t_train, "train")
    train_size = x_train.shape[0]
    if batch_size > train_size:
        raise ValueError(f"batch_size ({batch_size}) is larger than the training set ({train_size} rows)")
    if (x_test is None) != (t_test is None):
        raise ValueError("give both x_test and t_test, or neither")
    test = None if x_test is None else prepare_data(net, x_test, t_test, "test")[1:]
    per_epoch = max(train_size // batch_size, 1)
    eval_every = per_epoch if eval_every is None else positive_int(eval_every, "eval_every")
    return Prepared(xp, x_train, labels_train, test, per_epoch, eval_every)


def check_options(
    iters: Any, batch_size: Any, eval_batch: Any, fast: Any, blas_threads: Any, steps: bool = True
) -> tuple[int, int, int, Any, int | None]:
    """The options ``fit`` and ``fit_many`` share, checked: ``(iters, batch_size, eval_batch, fast,
    blas_threads)``; ``steps``: whether ``fast`` may be a number of steps per graph or scan."""
    blas_threads = None if blas_threads is None else positive_int(blas_threads, "blas_threads")
    return (
        positive_int(iters, "iters"),
        positive_int(batch_size, "batch_size"),
        positive_int(eval_batch, "eval_batch"),
        fast_value(fast, steps=steps),
        blas_threads,
    )


# ----------------------------------------------------------------- fit


def fit(
    net: TwoLayerNet,
    x_train: ArrayLike,
    t_train: ArrayLike,
    x_test: ArrayLike = None,
    t_test: ArrayLike = None,
    *,
    iters: int = 10_000,
    batch_size: int = 100,
    lr: float = 0.1,
    grad: str = "backprop",
    eval_every: int | None = None,
    seed: int | None = None,
    callbacks: Iterable[Callable[[dict, History], Any]] = (),
    progress: bool | str | None = None,
    fast: bool | int | str = "auto",
    eval_batch: int = 10_000,
    progress_file: IO[str] | None = None,
    evaluate: bool = True,
    blas_threads: int | None = None,
    live: bool = False,
    checkpoint: Any = None,
) -> History:
    """Train ``net`` by mini-batch SGD as the book does, evaluating per epoch.

    Mini-batches are drawn as in the book (``batch_size`` indices with
    replacement per iteration), from ``numpy.random.default_rng(seed)`` on
    the host, so one seed gives the same batches on every backend. The loss
    of each iteration's batch is kept on the device and read once per
    chunk of iterations.

    Args:
        net: a TwoLayerNet; its parameters are updated in place.
        x_train: training images (N, input).
        t_train: their labels (integer or one-hot).
        x_test: optional test images, for test accuracy.
        t_test: their labels.
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
            ``False`` never, ``"log"`` a line now and then (every 10 s) for logs;
            ``TQDM_DISABLE`` switches it off, as in tqdm.
        fast: ``"auto"`` (the backend's fast path: CUDA graphs and fused kernels
            on CuPy, the step compiled once and scanned on JAX), ``False`` (the
            plain path: one Array-API step at a time, no replacements), or an
            int: steps per CUDA graph or scan.
        eval_batch: rows per accuracy batch (evaluation stays on the device).
        progress_file: stream for the progress bar (stderr).
        evaluate: False skips the accuracy evaluations (benchmarks).
        blas_threads: BLAS threads for the steps on the CPU: None measures
            (one thread or every core, timed on the run's own step, again when the
            rate moves; recorded in ``history.config``; ``XPNET_BLAS_THREADS``
            overrides it); an int sets it, and with it the last bits of the
            results (a seed reproduces to the bit at one count). No effect on a GPU.
        live: in a Jupyter notebook, draw figures 4-11 and 4-12 under the cell
            while the net trains, updated in place at each evaluation (at most
            twice a second); when it ends they are ``plot_loss(history)`` and
            ``plot_accuracy(history)``. Outside a notebook: a ValueError.
        checkpoint: a file path (``"run/checkpoint.npz"``): after each evaluation and when the run
            stops, write the parameters, the history and where the mini-batches stand there, in one
            file replaced atomically, so that :func:`resume` can continue the run to the bit. Needs
            a ``seed``.

    Returns:
        History. Training stops early (``history.stopped``) when the loss
        turns NaN or infinite or diverges, or on Ctrl-C (and SIGTERM or SIGHUP
        under the command line); the parameters then hold exactly the
        ``history.iterations`` updates the history records.
    """
    net = check_net(net)
    callbacks = check_callbacks(callbacks)
    iters, batch_size, eval_batch, fast, blas_threads = check_options(iters, batch_size, eval_batch, fast, blas_threads)
    lr = positive_number(lr, "lr")
    seed = seed_value(seed, "seed")
    if grad not in GRADS:
        raise ValueError(f"grad must be one of {', '.join(GRADS)}, got {grad!r}")
    progress = _progress.check(progress)
    ck = as_checkpoint(checkpoint)
    if ck is not None and seed is None:
        raise ValueError("checkpoint needs a seed (seed=0, say): a continued run draws its mini-batches again from it")
    data = prepare_run(net, x_train, t_train, x_test, t_test, batch_size, eval_every)
    history = new_history(
        iters=iters,
        batch_size=batch_size,
        lr=lr,
        grad=grad,
        eval_every=data.eval_every,
        per_epoch=data.per_epoch,
        seed=seed,
        train_size=data.x.shape[0],
        test_size=None if data.test is None else data.test[0].shape[0],
        backend=backend_of(data.xp).name,
        dtype=str(net.dtype),
    )
    plan = Plan(iters, batch_size, data.eval_every, data.per_epoch, eval_batch, evaluate, fast, blas_threads, grad)
    keep = None if ck is None else Keeper(ck, _settings(plan, seed, lr, data))
    _run(net, data, history, plan, seed, lr, callbacks, progress, progress_file, live, keep)
    return history


def _run(
    net: TwoLayerNet,
    data: Prepared,
    history: History,
    plan: Plan,
    seed: Any,
    lr: float,
    callbacks: list,
    progress: bool | str | None,
    progress_file: IO[str] | None,
    live: bool,
    keep: Keeper | None,
) -> None:
    """The run of ``fit`` and ``resume``: live figures around it when asked for."""
    if live:
        require_notebook()
        curves = LiveCurves(lambda: [plot_loss(history), plot_accuracy(history)])
        callbacks.append(curves)
    run_one(net, data, history, plan, seed, lr, callbacks, progress, progress_file, keep=keep)
    if live:
        curves.finish()


def _settings(plan: Plan, seed: Any, lr: float, data: Prepared) -> dict:
    """What a checkpoint keeps of the run besides the net and history: the plan, seed, rate and
    the fingerprints of its data."""
    return {"plan": dataclasses.asdict(plan), "seed": seed, "lr": lr, "data": fingerprints(data)}


# ----------------------------------------------------------------- resume


def resume(
    checkpoint: Any,
    x_train: ArrayLike,
    t_train: ArrayLike,
    x_test: ArrayLike = None,
    t_test: ArrayLike = None,
    *,
    backend: str | None = None,
    callbacks: Iterable[Callable[[dict, History], Any]] = (),
    progress: bool | str | None = None,
    progress_file: IO[str] | None = None,
    live: bool = False,
) -> tuple[TwoLayerNet, History]:
    """Continue a run that ``fit(..., checkpoint=path)`` wrote, on the same data, to its end.

    The run goes on with the settings it started with (iterations, batch size, rate, seed,
    evaluation points, path and BLAS threads) from the update its checkpoint holds, and ends where
    the uninterrupted run would have: the same parameters to the bit and the same history
    (timings aside). It keeps writing the same checkpoint, so it can be stopped and continued again.

    Args:
        checkpoint: the file ``fit`` wrote.
        x_train: the training images the run was given (checked by a fingerprint: shape,
            labels and a sample of the images).
        t_train: their labels.
        x_test: the test images, when the run had them.
        t_test: their labels.
        backend: where to put the net (default: the active backend; the same one keeps the bits).
        callbacks: as for :func:`fit`, for the rest of the run.
        progress: as for :func:`fit`.
        progress_file: as for :func:`fit`.
        live: as for :func:`fit`.

    Returns:
        ``(net, history)``: the net and the whole run's history. A run that had finished comes back
        as it was.

    Raises:
        ValueError: not a checkpoint, other data, or a run that stopped because its loss went
            NaN or diverged (continuing would go the same way).
    """
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be the path of a file fit(..., checkpoint=...) wrote, got {checkpoint!r}")
    path = os.fspath(checkpoint)
    callbacks = check_callbacks(callbacks)
    loaded = load_checkpoint(path, backend)
    net, history, run = loaded.net, loaded.history, loaded.run
    if history.nonfinite_iteration is not None:
        raise ValueError(f"{path}: the run stopped because {history.stopped}; start a new run instead")
    plan = Plan(**run["plan"])
    data = prepare_run(net, x_train, t_train, x_test, t_test, plan.batch_size, plan.eval_every)
    same_data(path, run["data"], data)
    if history.iterations < plan.iters:
        history.stopped = history.signal = None
        keep = Keeper(Checkpoint(path, loaded.info), run, start=loaded.stream)
        _run(net, data, history, plan, run["seed"], run["lr"], callbacks, progress, progress_file, live, keep)
    return net, history
