"""Command line of ``examples/train.py``: the book's training experiment.

Bad input gives one line on stderr and exit code 2; a loss that turns NaN or
infinite stops the run (exit code 1) after writing what was done; Ctrl-C
stops cleanly (exit code 130) and keeps what was written.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import sys
import time

EXIT_USAGE = 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text!r}")
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text!r}")
    return v


def _positive_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return v


def build_parser():
    from .backend import BACKENDS
    from .datasets import DATASETS
    p = _Parser(prog="train.py", description="Train the book's TwoLayerNet by mini-batch SGD "
                "(Deep Learning from Scratch, chapter 4) on NumPy or CuPy.")
    p.add_argument("--iters", type=_positive_int, default=10_000, help="iterations (updates), default 10000")
    p.add_argument("--batch-size", type=_positive_int, default=100, help="mini-batch size, default 100")
    p.add_argument("--lr", type=_positive_float, default=0.1, help="learning rate, default 0.1")
    p.add_argument("--hidden", type=_positive_int, default=50, help="hidden units, default 50")
    p.add_argument("--seed", type=int, default=0, help="seed of initial weights and mini-batches, default 0")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64", help="default float64")
    p.add_argument("--grad", choices=("backprop", "numerical"), default="backprop",
                   help="gradient: backpropagation (default) or central differences")
    p.add_argument("--dataset", choices=DATASETS, default="auto",
                   help="auto (default): MNIST if it can be had, else the 8x8 digits with a notice")
    p.add_argument("--data-dir", default=None, help="data folder (default XPNET_DATA_DIR or ~/.cache/xpnet)")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="default: XPNET_BACKEND, else numpy")
    p.add_argument("--eval-every", type=_positive_int, default=None,
                   help="iterations between accuracy evaluations (default: one epoch)")
    p.add_argument("--out", default=None, help="output folder (default runs/<timestamp>)")
    p.add_argument("--no-plots", action="store_true", help="do not draw loss.png and accuracy.png")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--plain", action="store_true", help="plain path: no CUDA graph, no fused kernels")
    return p


def _fail(message, code=EXIT_USAGE):
    print(f"train.py: error: {message}", file=sys.stderr)
    return code


def _check_out(path):
    """Fail early, creating nothing, when ``path`` could not be made and written."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK | os.X_OK):
        why = "is not a folder" if not os.path.isdir(probe) else "is not writable"
        raise UsageError(f"--out {path!r} cannot be written ({probe} {why}); choose another folder")


def _make_out(path):
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".xpnet-write-test")
        with open(probe, "w") as fh:
            fh.write("ok")
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"--out {path!r} cannot be written ({exc.strerror or exc}); choose another folder")


def main(argv=None):
    try:
        return _main(argv)
    except UsageError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("train.py: interrupted", file=sys.stderr)
        return 130


def _main(argv):
    parser = build_parser()
    args = parser.parse_args(argv)
    import xpnet
    from xpnet import backend as B
    from xpnet.datasets import DatasetError, load_dataset
    from xpnet.train import fit

    try:
        if args.backend is not None:
            xpnet.set_backend(args.backend)
        name = xpnet.get_backend()
        xp = xpnet.get_namespace(name)
    except (ValueError, B.BackendError) as exc:
        raise UsageError(str(exc))
    out = args.out or os.path.join("runs", datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    _check_out(out)

    notices = []
    try:
        used, ((x_train, t_train), (x_test, t_test)) = load_dataset(
            args.dataset, notice=notices.append, dtype=args.dtype, backend=name,
            **({"data_dir": args.data_dir} if args.dataset != "digits" else {}),
            **({"progress": not args.no_progress} if args.dataset not in ("digits",) else {}))
    except DatasetError as exc:
        return _fail(str(exc), 1)
    for line in notices:
        print(line, file=sys.stderr)
    train_size, inputs = x_train.shape
    if args.batch_size > train_size:
        raise UsageError(f"--batch-size {args.batch_size} is larger than the training set "
                         f"({train_size} images of {used}); use at most {train_size}")
    per_epoch = max(train_size // args.batch_size, 1)
    eval_every = args.eval_every
    note = ""
    if eval_every is None:
        epochs_total = math.ceil(args.iters / per_epoch)
        stride = max(1, math.ceil(epochs_total / 50))
        eval_every = per_epoch * stride
        if stride > 1:
            note = f" (evaluating every {stride} epochs)"

    _make_out(out)
    net = xpnet.TwoLayerNet(inputs, args.hidden, 10, seed=args.seed, dtype=args.dtype, backend=name)
    fast = not args.plain
    print(f"xpnet {xpnet.__version__} | backend {name} | device {B.device_name(xp)} | {args.dtype}"
          f"{' | plain path' if args.plain else ''}")
    print(f"data: {used}: {train_size} train / {x_test.shape[0]} test images, {inputs} inputs, 10 classes")
    print(f"net: TwoLayerNet({inputs}, {args.hidden}, 10) | iters {args.iters} | batch {args.batch_size} | "
          f"lr {args.lr:g} | grad {args.grad} | seed {args.seed} | epoch = {per_epoch} iterations{note}")
    if args.grad == "numerical":
        t0 = time.perf_counter()
        net.numerical_gradient(x_train[:args.batch_size, ...], t_train[:args.batch_size])
        B.synchronize(xp)
        t0 = time.perf_counter()
        net.numerical_gradient(x_train[:args.batch_size, ...], t_train[:args.batch_size])
        B.synchronize(xp)
        each = time.perf_counter() - t0
        n_params = sum(math.prod(v.shape) for v in net.params.values())
        print(f"numerical gradient: {n_params} parameters x 2 loss evaluations per iteration; "
              f"measured {each * 1e3:.1f} ms per gradient, so about {_duration(each * args.iters)} "
              f"for {args.iters} iterations")
    sys.stdout.flush()

    def on_epoch(r, h):
        test = "" if r["test_acc"] is None else f"  test acc {r['test_acc']:.4f}"
        print(f"epoch {r['epoch']:4d}  iter {r['iteration']:6d}  loss {r['loss']:.4f}  "
              f"train acc {r['train_acc']:.4f}{test}", flush=True)

    t_wall = time.perf_counter()
    history = fit(net, x_train, t_train, x_test, t_test, iters=args.iters, batch_size=args.batch_size,
                  lr=args.lr, grad=args.grad, eval_every=eval_every, seed=args.seed, callbacks=[on_epoch],
                  progress=not args.no_progress, fast=fast)
    wall = time.perf_counter() - t_wall
    history.config.update({"dataset": used, "hidden": args.hidden, "device": B.device_name(xp)})

    written = _write_outputs(out, net, history, plots=not args.no_plots)
    f = history.final
    if f:
        print(f"done: {history.iterations} iterations in {history.train_seconds:.2f} s of training "
              f"({history.iters_per_second:,.0f} it/s), {history.eval_seconds:.2f} s evaluating, "
              f"wall {wall:.2f} s; final train acc {f['train_acc']:.4f}"
              + ("" if f["test_acc"] is None else f", test acc {f['test_acc']:.4f}"))
    print(f"wrote {', '.join(os.path.join(out, w) for w in written)}")
    if history.stopped:
        hint = history.stopped
        print(f"train.py: stopped: {hint}", file=sys.stderr)
        return 130 if history.nonfinite_iteration is None else 1
    return 0


def _duration(seconds):
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _write_outputs(out, net, history, plots=True):
    from .plots import plot_accuracy, plot_loss
    written = []
    history.save(os.path.join(out, "metrics.json"))
    written.append("metrics.json")
    history.save_csv(os.path.join(out, "metrics.csv"))
    written.append("metrics.csv")
    net.save(os.path.join(out, "params.npz"))
    written.append("params.npz")
    if plots and history.loss:
        plot_loss(history, os.path.join(out, "loss.png"))
        written.append("loss.png")
        if history.epochs:
            plot_accuracy(history, os.path.join(out, "accuracy.png"))
            written.append("accuracy.png")
    return written


if __name__ == "__main__":
    raise SystemExit(main())
