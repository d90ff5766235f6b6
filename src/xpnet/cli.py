"""The ``xpnet`` command (also ``python -m xpnet``): ``train``, ``fetch``, ``info``, ``--version``.

``examples/train.py`` runs ``train`` under its own name. Bad input gives one
line on stderr and exit code 2; a loss that turns NaN or infinite stops the
run (exit code 1) after writing what was done; Ctrl-C stops cleanly (exit
code 130) and keeps what was written. Every message starts with the name of
the program that was run.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import sys
import time
import warnings

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input on the command line: one line, exit code 2 (``prog``: the (sub)command it is about)."""

    def __init__(self, message, prog=None):
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message, prog=self.prog)


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


def _seed(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 2**32 - 1, got {text!r}")
    if not 0 <= v < 2**32:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 2**32 - 1, got {text!r}")
    return v


def program_name(argv0=None) -> str:
    """The name the user ran: ``xpnet``, ``python -m xpnet`` or a script's file name."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    base = os.path.basename(argv0)
    if base == "__main__.py":
        return "python -m xpnet"
    return base or "xpnet"


# ------------------------------------------------------------------ parsers

def add_train_arguments(p, sweep=False):
    """The options of ``train`` (and of ``sweep``, where ``--lr`` takes several rates)."""
    from .backend import BACKENDS
    from .datasets import DATASETS
    p.add_argument("--iters", type=_positive_int, default=10_000, help="iterations (updates), default 10000")
    p.add_argument("--batch-size", type=_positive_int, default=100, help="mini-batch size, default 100")
    if sweep:
        p.add_argument("--lr", type=_positive_float, nargs="+", default=[0.01, 0.1, 1.0, 10.0],
                       help="learning rates, default 0.01 0.1 1 10 (the chapter's experiment)")
    else:
        p.add_argument("--lr", type=_positive_float, default=0.1, help="learning rate, default 0.1")
    p.add_argument("--hidden", type=_positive_int, default=50, help="hidden units, default 50")
    p.add_argument("--seed", type=_seed, default=0,
                   help="first seed: member s of a rate uses seed + s, default 0" if sweep else
                   "seed of initial weights and mini-batches, default 0")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64", help="default float64")
    p.add_argument("--grad", choices=("backprop", "numerical"), default="backprop",
                   help="gradient: backpropagation (default) or central differences")
    p.add_argument("--dataset", choices=DATASETS, default="auto",
                   help="auto (default): MNIST if it can be had, else the MNIST test digits that ship with xpnet")
    p.add_argument("--data-dir", default=None, help="data folder (default XPNET_DATA_DIR or ~/.cache/xpnet)")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="default: XPNET_BACKEND, else numpy")
    p.add_argument("--device", default=None, help="device of the backend: cpu, cuda:1, cpu:1, or an index "
                   "(default: XPNET_DEVICE, else the library's default)")
    p.add_argument("--eval-every", type=_positive_int, default=None,
                   help="iterations between accuracy evaluations (default: one epoch)")
    p.add_argument("--out", default=None, help="output folder (default: a new runs/<timestamp>); "
                   "an existing non-empty one is refused unless --overwrite")
    p.add_argument("--overwrite", action="store_true", help="write into an existing --out, replacing a run there")
    p.add_argument("--no-plots", action="store_true", help="do not draw loss.png and accuracy.png")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", action="store_true", default=None,
                     help="draw the progress bar even when stderr is not a terminal")
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--blas-threads", type=_positive_int, default=None,
                   help="BLAS threads on the CPU (default: 1 at the book's size, else all; XPNET_BLAS_THREADS)")
    p.add_argument("--plain", action="store_true", help="plain path: no CUDA graph, no fused kernels")
    return p


def add_sweep_arguments(p):
    add_train_arguments(p, sweep=True)
    p.add_argument("--seeds", type=_positive_int, default=3, help="seeds per learning rate, default 3")
    p.add_argument("--workers", type=_positive_int, default=1,
                   help="processes to run the sweep in (shards on a process pool), default 1: in this process")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="in this process, on NumPy: members trained side by side, one thread each "
                        "(default: one per CPU core, at most 8)")
    return p


def build_parser(prog="xpnet"):
    from . import __version__
    p = _Parser(prog=prog, description="xpnet: the training chapter of Deep Learning from Scratch, "
                "written once on the Array API (NumPy on the CPU, CuPy on NVIDIA GPUs).")
    p.add_argument("--version", action="version", version=f"xpnet {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{train,sweep,fetch,info}", parser_class=_Parser)
    add_train_arguments(sub.add_parser(
        "train", help="train the book's TwoLayerNet by mini-batch SGD (chapter 4)",
        description="Train the book's TwoLayerNet by mini-batch SGD (Deep Learning from Scratch, chapter 4)."))
    add_sweep_arguments(sub.add_parser(
        "sweep", help="the learning-rate experiment: many nets at once (rates x seeds)",
        description="Train one TwoLayerNet per learning rate and seed, all as one stacked computation, "
                    "and compare them: a table, two figures, each member's metrics and parameters."))
    fetch = sub.add_parser("fetch", help="download a data set and check it",
                           description="Download a data set (or check the copy that is there).")
    fetch.add_argument("name", choices=("mnist", "fashion-mnist"), help="data set")
    fetch.add_argument("--data-dir", help="folder (default: XPNET_DATA_DIR or ~/.cache/xpnet)")
    fetch.add_argument("--no-download", action="store_true", help="only check what is there")
    fetch.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                       help="no download progress bars")
    sub.add_parser("info", help="versions, backends and devices xpnet sees (for bug reports)",
                   description="Versions, backends and devices xpnet sees (paste it into a bug report).")
    return p


# ------------------------------------------------------------------ entry points

def main(argv=None, prog=None):
    """``xpnet ...`` and ``python -m xpnet ...``: the exit code."""
    prog = prog or program_name()
    parser = build_parser(prog)
    parsed = []

    def parse():
        parsed.append(parser.parse_args(argv))
        if parsed[0].command is None:
            parser.print_help(sys.stderr)
            raise UsageError("choose a command: train, sweep, fetch or info")
        return 0
    code = _guarded(prog, parse)
    if code:
        return code
    args = parsed[0]
    command = {"train": train, "sweep": sweep, "fetch": fetch, "info": info}[args.command]
    sub = f"{prog} {args.command}"
    return _guarded(sub, lambda: command(args, sub))


def train_main(argv=None, prog=None):
    """``examples/train.py`` and ``xpnet-train``: ``xpnet train`` under the script's own name."""
    prog = prog or program_name()
    parser = add_train_arguments(_Parser(prog=prog, description="Train the book's TwoLayerNet by mini-batch SGD "
                                         "(Deep Learning from Scratch, chapter 4) on NumPy, CuPy, JAX or another Array-API library."))
    return _guarded(prog, lambda: train(parser.parse_args(argv), prog))


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is, so it stops as on Ctrl-C."""

    def __init__(self, signal_number, signal_name):
        super().__init__(signal_name)
        self.signal_number, self.signal_name = signal_number, signal_name


def _on_signal(signum, frame):
    import signal
    raise Interrupted(signum, signal.Signals(signum).name)


def sweep_main(argv=None, prog=None):
    """``examples/sweep.py``: ``xpnet sweep`` under the script's own name."""
    prog = prog or program_name()
    parser = add_sweep_arguments(_Parser(prog=prog, description="The learning-rate experiment: one TwoLayerNet per "
                                         "rate and seed, trained as one stacked computation."))
    return _guarded(prog, lambda: sweep(parser.parse_args(argv), prog))


def _guarded(prog, run):
    """Run a command; every failure becomes one line on stderr and an exit code, never a traceback:
    bad input 2; data, files, memory or a numerical failure 1; Ctrl-C 130, SIGTERM 143, SIGHUP 129."""
    import signal
    from .datasets import DatasetError
    handled = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {}
    try:
        for sig in handled:
            try:
                previous[sig] = signal.signal(sig, _on_signal)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return run()
    except UsageError as exc:
        print(f"{exc.prog or prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (DatasetError, FloatingPointError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError as exc:
        print(f"{prog}: error: not enough memory ({exc or 'the allocation failed'}); "
              "try a smaller --hidden, --batch-size or data set", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"{prog}: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except Interrupted as exc:
        print(f"{prog}: interrupted ({exc.signal_name})", file=sys.stderr)
        return 128 + exc.signal_number
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# ------------------------------------------------------------------ train

def train(args, prog):
    """The book's experiment: load, train with a progress bar, write metrics, parameters, plots."""
    import xpnet
    from .backend import device_name
    from .train import fit

    name, xp, used, (x_train, t_train), (x_test, t_test), per_epoch, eval_every, note = _set_up(args)
    inputs = x_train.shape[1]
    _check_memory(args, x_train.shape[0], inputs, eval_every)
    out = _own_out(args.out, args.overwrite)
    net = xpnet.TwoLayerNet(inputs, args.hidden, 10, seed=args.seed, dtype=args.dtype, backend=name)
    device = device_name(xp)
    print(f"xpnet {xpnet.__version__} | backend {name} | device {device} | {args.dtype}"
          f"{' | plain path' if args.plain else ''}")
    print(f"data: {used}: {x_train.shape[0]} train / {x_test.shape[0]} test images, {inputs} inputs, 10 classes")
    print(f"net: TwoLayerNet({inputs}, {args.hidden}, 10) | iters {args.iters} | batch {args.batch_size} | "
          f"lr {args.lr:g} | grad {args.grad} | seed {args.seed} | epoch = {per_epoch} iterations{note}")
    if args.grad == "numerical":
        _announce_numerical_cost(net, x_train, t_train, args, xp)
    sys.stdout.flush()

    t_wall = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow warnings: the run reports divergence itself
            history = fit(net, x_train, t_train, x_test, t_test, iters=args.iters, batch_size=args.batch_size,
                          lr=args.lr, grad=args.grad, eval_every=eval_every, seed=args.seed,
                          callbacks=[_print_epoch], progress=args.progress, fast=not args.plain,
                          blas_threads=args.blas_threads)
        wall = time.perf_counter() - t_wall
        history.config.update({"dataset": used, "hidden": args.hidden, "device": device})
        written, failed = _write_outputs(out, net, history, plots=not args.no_plots)
    finally:
        _release_out(out)
    _print_summary(history, wall)
    if written:
        print(f"wrote {', '.join(os.path.join(out, w) for w in written)}")
    for line in failed:
        print(f"{prog}: error: {line}", file=sys.stderr)
    if history.stopped:
        print(f"{prog}: stopped: {history.stopped}", file=sys.stderr)
        if history.nonfinite_iteration is not None:
            return 1
        return 130 if history.signal is None else 128 + history.signal
    return 1 if failed else 0


def _set_up(args):
    """What a training command starts with: the backend, an early check of ``--out`` (nothing
    made yet), the data (with its notice) and the evaluation plan."""
    name, xp = _backend(args)
    if args.out is not None:
        _check_out(args.out, args.overwrite)
    used, train_set, test_set = _load(args, name)
    per_epoch, eval_every, note = _evaluation_plan(args, used, train_set[0].shape[0])
    return name, xp, used, train_set, test_set, per_epoch, eval_every, note


def _backend(args):
    import xpnet
    from .backend import get_device
    try:
        if args.backend is not None or args.device is not None:
            xpnet.set_backend(args.backend or xpnet.get_backend(), device=args.device)
        name = xpnet.get_backend()
        get_device()  # an unknown XPNET_DEVICE fails here, with the valid ones listed
        return name, xpnet.get_namespace(name)
    except (ValueError, xpnet.BackendError) as exc:
        raise UsageError(str(exc))


RUN_FILES = ("params.npz", "metrics.json", "metrics.csv", "loss.png", "accuracy.png")
LOCK = ".xpnet-run.lock"


def _own_out(path, overwrite, extra=(), member_dirs=False):
    """Make the run's folder its own: a new unique ``runs/<timestamp>[-N]`` by default, else
    ``path`` (refused when another run holds it, or when it holds files and not ``overwrite``).
    A lock file marks it as taken until the run ends; with ``overwrite``, an earlier run's
    files are removed first, so no old plot stays beside new metrics."""
    if path is None:
        base = os.path.join("runs", datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
        for n in range(1, 10_000):
            path = base if n == 1 else f"{base}-{n}"
            try:
                os.makedirs(path)  # fails if it exists: two runs in one second get two folders
                break
            except FileExistsError:
                continue
    _make_out(path)
    lock = os.path.join(path, LOCK)
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        if _lock_alive(lock):
            raise UsageError(f"--out {path!r} is in use by another run (its lock {lock} names a live process); "
                             "choose another folder")
        os.unlink(lock)  # left by a run that died
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    with os.fdopen(fd, "w") as fh:
        fh.write(str(os.getpid()))
    if not overwrite:
        try:
            _refuse_if_taken(path)
        except UsageError:
            os.unlink(lock)
            raise
    for name in RUN_FILES + tuple(extra):
        try:
            os.unlink(os.path.join(path, name))
        except FileNotFoundError:
            pass
    if member_dirs:  # an earlier sweep's member folders (lr<rate>-seed<seed>/, only xpnet's files in them)
        import re
        for name in os.listdir(path):
            folder = os.path.join(path, name)
            if re.fullmatch(r"lr[^/]+-seed\d+", name) and os.path.isdir(folder):
                for f in RUN_FILES:
                    try:
                        os.unlink(os.path.join(folder, f))
                    except FileNotFoundError:
                        pass
                try:
                    os.rmdir(folder)
                except OSError:
                    pass  # it holds something else: left alone
    return path


def _lock_alive(lock):
    try:
        pid = int(open(lock).read().strip() or 0)
    except (OSError, ValueError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _release_out(path):
    try:
        os.unlink(os.path.join(path, LOCK))
    except OSError:
        pass


def _check_memory(args, train_size, inputs, eval_every, nets=1):
    """Refuse, before anything is allocated, a run that cannot fit in this machine's memory."""
    params = (inputs * args.hidden + args.hidden * 10 + args.hidden + 10) * 8
    activations = max(args.batch_size, min(train_size, 10_000)) * (args.hidden + 10) * 8
    evaluations = -(-args.iters // eval_every)
    if evaluations > 1_000_000:
        raise UsageError(f"--eval-every {eval_every} with --iters {args.iters} evaluates accuracy "
                         f"{evaluations:,} times; use a larger --eval-every")
    need = nets * (8 * params + 8 * activations + 40 * args.iters + 400 * min(evaluations, args.iters))
    have = _available_memory()
    if have is not None and need > have:
        raise UsageError(f"this run needs about {need / 2**30:.1f} GiB of memory (--hidden {args.hidden}, "
                         f"--batch-size {args.batch_size}, --iters {args.iters}), more than the "
                         f"{have / 2**30:.1f} GiB available; choose smaller values")


def _available_memory():
    """Bytes of memory available (Linux: MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _load(args, backend):
    """``(name_used, train, test)``; a notice line first when ``auto`` falls back."""
    from .datasets import load_dataset
    notices = []
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
        raise UsageError(f"--batch-size {args.batch_size} is larger than the training set "
                         f"({train_size} images of {used}); use at most {train_size}")
    per_epoch = max(train_size // args.batch_size, 1)
    if args.eval_every is not None:
        return per_epoch, args.eval_every, ""
    stride = max(1, math.ceil(math.ceil(args.iters / per_epoch) / 50))
    return per_epoch, per_epoch * stride, (f" (evaluating every {stride} epochs)" if stride > 1 else "")


def _announce_numerical_cost(net, x_train, t_train, args, xp):
    """Time one numerical gradient (after a warm-up) and say what the run will cost."""
    from .backend import synchronize
    for _ in range(2):
        t0 = time.perf_counter()
        net.numerical_gradient(x_train[:args.batch_size, ...], t_train[:args.batch_size])
        synchronize(xp)
    each = time.perf_counter() - t0
    n_params = sum(math.prod(v.shape) for v in net.params.values())
    print(f"numerical gradient: {n_params} parameters x 2 loss evaluations per iteration; "
          f"measured {each * 1e3:.1f} ms per gradient, so about {_duration(each * args.iters)} "
          f"for {args.iters} iterations")


def _print_epoch(r, history):
    test = "" if r["test_acc"] is None else f"  test acc {r['test_acc']:.4f}"
    print(f"epoch {r['epoch']:4d}  iter {r['iteration']:6d}  loss {r['loss']:.4f}  "
          f"train acc {r['train_acc']:.4f}{test}", flush=True)


def _print_summary(history, wall):
    f = history.final
    if f:
        print(f"done: {history.iterations} iterations in {history.train_seconds:.2f} s of training "
              f"({history.iters_per_second:,.0f} it/s), {history.eval_seconds:.2f} s evaluating, "
              f"wall {wall:.2f} s; final train acc {f['train_acc']:.4f}"
              + ("" if f["test_acc"] is None else f", test acc {f['test_acc']:.4f}"))


def _duration(seconds):
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _check_out(path, overwrite=False):
    """Fail early, creating nothing, when ``path`` could not be made and written, or holds files."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK | os.X_OK):
        why = "is not a folder" if not os.path.isdir(probe) else "is not writable"
        raise UsageError(f"--out {path!r} cannot be written ({probe} {why}); choose another folder")
    if os.path.isdir(path) and not overwrite:
        _refuse_if_taken(path)


def _refuse_if_taken(path):
    """UsageError when the folder ``path`` holds files (an earlier run's, or anything else)."""
    others = sorted(n for n in os.listdir(path) if n != LOCK)
    if others:
        raise UsageError(f"--out {path!r} already holds {', '.join(others[:3])}{'...' if len(others) > 3 else ''}; "
                         "choose another folder, or add --overwrite")


def _make_out(path):
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".xpnet-write-test")
        with open(probe, "w") as fh:
            fh.write("ok")
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"--out {path!r} cannot be written ({exc.strerror or exc}); choose another folder")


def _write_outputs(out, net, history, plots=True):
    """Write the run's files, parameters first (small and the most valuable); a file that cannot
    be written is reported and the others are still written. Returns ``(written, failures)``."""
    import numpy as np
    from .backend import to_numpy
    from .plots import plot_accuracy, plot_loss
    params_ok = all(bool(np.all(np.isfinite(to_numpy(a)))) for a in net.params.values())
    steps = [("params.npz", lambda p: net.save(p)) if params_ok else None,
             ("metrics.json", history.save), ("metrics.csv", history.save_csv)]
    if plots and history.loss:
        steps.append(("loss.png", lambda p: plot_loss(history, p)))
        if history.epochs:
            steps.append(("accuracy.png", lambda p: plot_accuracy(history, p)))
    written, failed = [], []
    if not params_ok:
        failed.append("params.npz not written: the parameters are NaN or infinite from the start")
    for name, write in filter(None, steps):
        path = os.path.join(out, name)
        try:
            write(path)
            written.append(name)
        except OSError as exc:
            failed.append(f"{path} could not be written ({exc.strerror or exc}); the other files were kept")
    return written, failed


# ------------------------------------------------------------------ sweep

SWEEP_FILES = ("summary.json", "summary.csv", "sweep_accuracy.png", "sweep_final.png")


def sweep(args, prog):
    """Many nets at once: one per learning rate and seed, trained stacked; a table, two figures,
    each member's metrics and parameters in a folder of its own."""
    import json


    import xpnet
    from ._io import atomic_write
    from .backend import device_name
    from .plots import plot_sweep
    from .sweep import fit_many

    if args.grad != "backprop":
        raise UsageError("--grad numerical is not for sweeps; use xpnet train --grad numerical")
    if args.threads is not None and args.workers > 1:
        raise UsageError("--threads is for a sweep in this process; with --workers N each process trains its "
                         "shard on one thread")
    name, xp, used, (x_train, t_train), (x_test, t_test), per_epoch, eval_every, note = _set_up(args)
    inputs = x_train.shape[1]
    members = [(lr, args.seed + s) for lr in args.lr for s in range(args.seeds)]
    _check_memory(args, x_train.shape[0], inputs, eval_every, nets=len(members))
    out = _own_out(args.out, args.overwrite, extra=SWEEP_FILES, member_dirs=True)
    nets = [xpnet.TwoLayerNet(inputs, args.hidden, 10, seed=seed, dtype=args.dtype, backend=name)
            for _, seed in members]
    device = device_name(xp)
    print(f"xpnet {xpnet.__version__} | backend {name} | device {device} | {args.dtype}")
    print(f"data: {used}: {x_train.shape[0]} train / {x_test.shape[0]} test images, {inputs} inputs, 10 classes")
    print(f"sweep: {len(args.lr)} learning rates x {args.seeds} seeds = {len(members)} TwoLayerNet({inputs}, "
          f"{args.hidden}, 10) | iters {args.iters} | batch {args.batch_size} | epoch = {per_epoch} iterations{note}"
          f"{f' | {args.workers} processes' if args.workers > 1 else ''}")
    sys.stdout.flush()
    executor = None
    try:
        if args.workers > 1:
            import concurrent.futures
            import multiprocessing
            executor = concurrent.futures.ProcessPoolExecutor(args.workers,
                                                              mp_context=multiprocessing.get_context("spawn"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow warnings: divergence is reported
            histories = fit_many(nets, x_train, t_train, x_test, t_test, lr=[lr for lr, _ in members],
                                 seed=[seed for _, seed in members], iters=args.iters, batch_size=args.batch_size,
                                 eval_every=eval_every, executor=executor, shards=args.workers,
                                 progress=args.progress, blas_threads=args.blas_threads,
                                 fast=not args.plain, threads=args.threads)
        failed = []
        results = []
        for (lr, seed), net, h in zip(members, nets, histories):
            h.config.update({"dataset": used, "hidden": args.hidden, "device": device})
            folder = os.path.join(out, f"lr{lr:g}-seed{seed}")
            os.makedirs(folder, exist_ok=True)
            failed += _write_outputs(folder, net, h, plots=False)[1]
            results.append((lr, seed, h))
        rows = _sweep_table(results)
        try:
            atomic_write(os.path.join(out, "summary.json"), json.dumps({"members": [
                {"lr": lr, "seed": seed, "iterations": h.iterations, "stopped": h.stopped,
                 "final": h.final} for lr, seed, h in results], "rates": rows}, indent=1))
            atomic_write(os.path.join(out, "summary.csv"), "lr,seeds,train_acc_mean,train_acc_sd,test_acc_mean,"
                         "test_acc_sd,stopped\n" + "".join(
                             f"{r['lr']!r},{r['seeds']},{r['train_mean']!r},{r['train_sd']!r},{r['test_mean']!r},"
                             f"{r['test_sd']!r},{r['stopped']}\n" for r in rows))
            if not args.no_plots:
                plot_sweep(results, os.path.join(out, "sweep_accuracy.png"), os.path.join(out, "sweep_final.png"),
                           dataset=used)
        except OSError as exc:
            failed.append(f"{out}: the summary could not be written ({exc.strerror or exc})")
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
        _release_out(out)
    print(f"{'lr':>8}  {'seeds':>5}  {'train acc':>17}  {'test acc':>17}  stopped")
    for r in rows:
        print(f"{r['lr']:8g}  {r['seeds']:5d}  {r['train_mean']:.4f} +- {r['train_sd']:.4f}  "
              f"{r['test_mean']:.4f} +- {r['test_sd']:.4f}  {r['stopped']}")
    print(f"wrote {out}: summary.json, summary.csv{'' if args.no_plots else ', sweep_accuracy.png, sweep_final.png'}"
          f", and lr<rate>-seed<seed>/ for each of the {len(members)} members")
    for line in failed:
        print(f"{prog}: error: {line}", file=sys.stderr)
    signals = {h.signal for h in histories if h.stopped and h.stopped.startswith("interrupted")}
    if signals:
        sig = next(iter(signals))
        print(f"{prog}: stopped: interrupted; each member kept what it had done", file=sys.stderr)
        return 130 if sig is None else 128 + sig
    return 1 if failed else 0


def _sweep_table(results):
    """Per learning rate: mean and spread over seeds of the final accuracies, and how many stopped."""
    import numpy as np
    rows = []
    for lr in sorted({lr for lr, _, _ in results}):
        hs = [h for r, _, h in results if r == lr]

        def stat(key):
            v = np.array([h.final.get(key) if h.final.get(key) is not None else np.nan for h in hs], dtype=float)
            return (float(np.nanmean(v)) if np.isfinite(v).any() else float("nan"),
                    float(np.nanstd(v)) if np.isfinite(v).any() else float("nan"))
        (tm, ts), (em, es) = stat("train_acc"), stat("test_acc")
        rows.append({"lr": lr, "seeds": len(hs), "train_mean": tm, "train_sd": ts, "test_mean": em, "test_sd": es,
                     "stopped": sum(1 for h in hs if h.stopped)})
    return rows


# ------------------------------------------------------------------ fetch

def fetch(args, prog):
    """Download (or only check) a data set, check it whole, then say what was checked of each file."""
    from .datasets import FASHION_MNIST, FILES, MNIST, check_note, data_dir, load_raw
    from .datasets import fetch as fetch_files
    from .datasets.download import md5sum
    spec = {"mnist": MNIST, "fashion-mnist": FASHION_MNIST}[args.name]
    root = args.data_dir or data_dir()
    paths = fetch_files(spec, root, download=not args.no_download, progress=args.progress)
    raw = load_raw(spec, root, download=False, progress=False)  # every check, before anything is called valid
    for key in FILES:
        print(f"{paths[key]}  md5 {md5sum(paths[key])}  {check_note(spec, key, paths[key])}")
    print(f"{spec.name}: valid: {raw['train_images'].shape[0]} training and "
          f"{raw['test_images'].shape[0]} test images of 28x28 (cache ready)")
    return 0


# ------------------------------------------------------------------ info

def info(args, prog):
    """What a bug report needs: versions, backends, devices, BLAS and its threads."""
    for line in info_lines():
        print(line)
    return 0


def info_lines():
    import platform
    from importlib import metadata

    import numpy as np

    import xpnet
    from .backend import BACKENDS, ENV_VAR, backend_available, get_backend

    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    lines = [f"xpnet {xpnet.__version__} ({os.path.dirname(xpnet.__file__)})",
             f"python {platform.python_version()} ({platform.python_implementation()}, "
             f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores)",
             f"numpy {np.__version__}; BLAS: {_blas_line()}",
             f"array-api-compat {version('array-api-compat')}"]
    for dist in ("array-api-strict", "cupy-cuda13x", "cupy-cuda12x", "cupy", "torch", "jax"):
        v = version(dist)
        if v:
            lines.append(f"{dist} {v}")
    usable = [b for b in BACKENDS if _usable(backend_available, b)]
    lines.append(f"backends usable here: {', '.join(usable)}")
    try:
        active = get_backend()
    except ValueError as exc:
        active = f"none ({exc})"
    lines.append(f"active backend: {active} ({ENV_VAR}={os.environ.get(ENV_VAR, '') or '(unset)'}, "
                 f"XPNET_DEVICE={os.environ.get('XPNET_DEVICE', '') or '(unset)'})")
    if "cupy" in usable:
        lines += _cupy_lines()
    else:
        lines.append("cupy: not usable here (no CuPy, or no CUDA device); for NVIDIA GPUs: "
                     "pip install 'xpnet[cuda13]' (or 'xpnet[cuda12]')")
    from .datasets import BUNDLED_DIR, data_dir, keras_mnist_path
    lines.append(f"data folder: {data_dir()} (XPNET_DATA_DIR); bundled MNIST test digits: "
                 f"{'present' if (BUNDLED_DIR / 't10k-images-idx3-ubyte.gz').is_file() else 'missing'}; "
                 f"Keras mnist.npz: {'found' if keras_mnist_path().is_file() else 'not found'}")
    return lines


def _usable(check, name):
    try:
        return check(name)
    except Exception:  # a broken install of an optional library must not break the report
        return False


def _blas_line():
    from .accel.numpy import api
    try:
        libs = api.blas_info()
    except Exception as exc:  # threadpoolctl missing or failing
        return f"unknown ({type(exc).__name__})"
    found = ", ".join(f"{name} {ver or ''} with {threads} threads".replace("  ", " ") for name, ver, threads in libs)
    env = os.environ.get(api.THREADS_ENV, "")
    choice = (f"{api.THREADS_ENV}={env}" if env else
              f"1 thread below {api.SMALL_STEP_FLOPS:.0e} flops a step (the book's step: 1.6e+07), "
              f"else all; --blas-threads or {api.THREADS_ENV} to choose")
    return f"{found or 'none found'}; fit uses {choice}"


def _cupy_lines():
    """CuPy, CUDA and the devices; each line on its own, so one failure still leaves the rest."""
    lines = []
    try:
        import cupy
        rt = cupy.cuda.runtime
        lines.append(f"cupy {cupy.__version__}: CUDA runtime {_cuda_version(rt.runtimeGetVersion())}, "
                     f"driver {_cuda_version(rt.driverGetVersion())}")
        for i in range(rt.getDeviceCount()):
            props = rt.getDeviceProperties(i)
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            with cupy.cuda.Device(i):
                free, total = rt.memGetInfo()
            lines.append(f"  device {i}: {name}, compute capability {props['major']}.{props['minor']}, "
                         f"{total / 2**30:.1f} GiB ({free / 2**30:.1f} GiB free)")
        cupy.cuda.device.get_cublas_handle()
        from .accel.cupy.loader import loaded_library
        lines.append(f"  cuBLAS loaded: {loaded_library('libcublas.so') or 'not found in the process map'}")
    except Exception as exc:  # report what broke instead of failing the report
        lines.append(f"cupy: error while asking CUDA: {type(exc).__name__}: {exc}")
    return lines


def _cuda_version(v):
    return f"{v // 1000}.{(v % 1000) // 10}"


if __name__ == "__main__":
    raise SystemExit(main())
