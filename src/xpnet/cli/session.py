"""What ``train`` and ``sweep`` share: one set-up (backend, an early ``--out`` check, data,
evaluation plan, memory check, the run folder, the header), one release, one epoch line."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
import warnings
from typing import Any

from .. import __version__
from ..backend import BackendError, check_blas_threads, device_name, get_backend, get_device, get_namespace, set_backend
from ..datasets import load_dataset
from . import runs
from .errors import UsageError


@dataclasses.dataclass
class Session:
    """A training command's set-up: the backend, the data, the evaluation plan and the run folder."""

    name: str
    xp: Any
    device: str
    used: str
    train: tuple
    test: tuple
    per_epoch: int
    eval_every: int
    note: str
    out: str

    @property
    def inputs(self):
        return self.train[0].shape[1]

    def data_line(self):
        x_train, x_test = self.train[0], self.test[0]
        return (
            f"data: {self.used}: {x_train.shape[0]} train / {x_test.shape[0]} test images, {self.inputs} "
            f"inputs, 10 classes"
        )


@contextlib.contextmanager
def session(args, nets=1, extra=(), member_dirs=False):
    """Set up a training command, print its first lines, and release its run folder when it ends.

    Nothing is made before the arguments, the backend, the data and the memory needed
    are checked (``nets``: how many nets train at once). Overflow warnings are silenced
    inside: a run reports divergence itself.
    """
    name, xp = _backend(args)
    try:
        check_blas_threads(args.blas_threads)  # XPNET_BLAS_THREADS, before anything is made
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    resuming = getattr(args, "resume", None) is not None  # the run folder is the resumed run's own
    if args.out is not None:
        runs.check_out(args.out, args.overwrite or resuming)
    used, train_set, test_set = _load(args, name)
    per_epoch, eval_every, note = _evaluation_plan(args, used, train_set[0].shape[0])
    runs.check_memory(args, train_set[0].shape[0], train_set[0].shape[1], eval_every, nets=nets)
    out = runs.own_out(args.out, args.overwrite, extra=extra, member_dirs=member_dirs, keep=resuming)
    try:
        s = Session(
            name, xp, device_name(xp, get_device()), used, train_set, test_set, per_epoch, eval_every, note, out
        )
        print(
            f"xpnet {__version__} | backend {name} | device {s.device} | {args.dtype}"
            f"{' | plain path' if args.plain else ''}"
        )
        print(s.data_line())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow warnings: the run reports divergence
            yield s
    finally:
        runs.release_out(out)


def _backend(args):
    try:
        if args.backend is not None or args.device is not None:
            set_backend(args.backend or get_backend(), device=args.device)
        name = get_backend()
        get_device()  # an unknown XPNET_DEVICE fails here, with the valid ones listed
        return name, get_namespace(name)
    except (ValueError, BackendError) as exc:
        raise UsageError(str(exc)) from None


def _load(args, backend):
    """``(name_used, train, test)``; a notice line first when ``auto`` falls back."""
    notices: list[str] = []
    kwargs = {"dtype": args.dtype, "backend": backend}
    if args.dataset != "digits":
        kwargs.update(data_dir=args.data_dir, progress=args.progress)
    used, (train_set, test_set) = load_dataset(args.dataset, notice=notices.append, **kwargs)
    for line in notices:
        print(line, file=sys.stderr)
    return used, train_set, test_set


def _evaluation_plan(args, used, train_size):
    """``(per_epoch, eval_every, note)``: at most about 50 evaluations in a run."""
    if args.batch_size > train_size:
        raise UsageError(
            f"--batch-size {args.batch_size} is larger than the training set "
            f"({train_size} images of {used}); use at most {train_size}"
        )
    per_epoch = max(train_size // args.batch_size, 1)
    if args.eval_every is not None:
        return per_epoch, args.eval_every, ""
    stride = max(1, math.ceil(math.ceil(args.iters / per_epoch) / 50))
    return per_epoch, per_epoch * stride, (f" (evaluating every {stride} epochs)" if stride > 1 else "")


def print_epoch(r, history):
    test = "" if r["test_acc"] is None else f"  test acc {r['test_acc']:.4f}"
    print(
        f"epoch {r['epoch']:4d}  iter {r['iteration']:6d}  loss {r['loss']:.4f}  train acc {r['train_acc']:.4f}{test}",
        flush=True,
    )


def print_summary(history, wall):
    f = history.final
    if f:
        print(
            f"done: {history.iterations} iterations in {history.train_seconds:.2f} s of training "
            f"({history.iters_per_second:,.0f} it/s), {history.eval_seconds:.2f} s evaluating, "
            f"wall {wall:.2f} s; final train acc {f['train_acc']:.4f}"
            + ("" if f["test_acc"] is None else f", test acc {f['test_acc']:.4f}")
        )


def duration(seconds):
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
