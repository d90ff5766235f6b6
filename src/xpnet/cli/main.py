"""Argument parsing and the exit-code and signal policy of every command.

Bad input gives one line on stderr and exit code 2; a loss that turns NaN or
infinite stops the run (exit code 1) after writing what was done; Ctrl-C stops
cleanly (exit code 130, SIGTERM 143, SIGHUP 129) and keeps what was written.
Every message starts with the name of the (sub)command that was run.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import signal
import sys
import warnings

from .. import __version__
from ..backend import BACKENDS
from ..datasets import DATASETS, DatasetError
from ..signals import STOPPING, Interrupted, stop_once
from . import fetch as fetch_command
from . import info as info_command
from . import predict as predict_command
from . import sweep as sweep_command
from . import train as train_command
from .errors import EXIT_USAGE, UsageError

COMMANDS = {
    "train": train_command.run,
    "sweep": sweep_command.run,
    "fetch": fetch_command.run,
    "predict": predict_command.run,
    "info": info_command.run,
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message, prog=self.prog)


def _argument(parse, ok, what):
    """An argparse type: ``parse`` the text, then ``ok`` the value; else one message naming ``what``."""

    def convert(text):
        try:
            value = parse(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return convert


_positive_int = _argument(int, lambda v: v >= 1, "a positive whole number")
_positive_float = _argument(float, lambda v: math.isfinite(v) and v > 0, "a positive number")
_seed = _argument(int, lambda v: 0 <= v < 2**32, "a whole number from 0 to 2**32 - 1")


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
    p.add_argument("--iters", type=_positive_int, default=10_000, help="iterations (updates), default 10000")
    p.add_argument("--batch-size", type=_positive_int, default=100, help="mini-batch size, default 100")
    if sweep:
        p.add_argument(
            "--lr",
            type=_positive_float,
            nargs="+",
            default=[0.01, 0.1, 1.0, 10.0],
            help="learning rates, default 0.01 0.1 1 10 (the chapter's experiment)",
        )
    else:
        p.add_argument("--lr", type=_positive_float, default=0.1, help="learning rate, default 0.1")
    p.add_argument("--hidden", type=_positive_int, default=50, help="hidden units, default 50")
    p.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="first seed: member s of a rate uses seed + s, default 0"
        if sweep
        else "seed of initial weights and mini-batches, default 0",
    )
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64", help="default float64")
    _add_data_arguments(p)
    _add_output_arguments(p, sweep)
    if not sweep:
        p.add_argument(
            "--resume",
            metavar="RUN_DIR",
            default=None,
            help="continue the stopped run in RUN_DIR from its checkpoint.npz, with that run's own options, "
            "to where it would have ended",
        )
    p.set_defaults(run_defaults={name: p.get_default(name) for name in RUN_OPTIONS})
    return p


#: the options that shape a run (a resumed run takes them from its checkpoint)
RUN_OPTIONS = (
    "iters",
    "batch_size",
    "lr",
    "hidden",
    "seed",
    "dtype",
    "grad",
    "dataset",
    "backend",
    "eval_every",
    "out",
    "overwrite",
    "blas_threads",
    "plain",
)


def _add_data_arguments(p):
    """Where the run's data and arrays come from."""
    p.add_argument(
        "--grad",
        choices=("backprop", "numerical"),
        default="backprop",
        help="gradient: backpropagation (default) or central differences",
    )
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        default="auto",
        help="auto (default): MNIST if it can be had, else the MNIST test digits that ship with xpnet",
    )
    p.add_argument("--data-dir", default=None, help="data folder (default XPNET_DATA_DIR or ~/.cache/xpnet)")
    p.add_argument("--backend", choices=BACKENDS, default=None, help="default: XPNET_BACKEND, else numpy")
    p.add_argument(
        "--device",
        default=None,
        help="device of the backend: cpu, cuda:1, cpu:1, or an index "
        "(default: XPNET_DEVICE, else the library's default)",
    )


def _add_output_arguments(p, sweep):
    """What the run shows and writes."""
    p.add_argument(
        "--eval-every",
        type=_positive_int,
        default=None,
        help="iterations between accuracy evaluations (default: one epoch, "
        "or a whole number of epochs that keeps the run to about 50 evaluations)",
    )
    p.add_argument(
        "--out",
        default=None,
        help="output folder (default: a new runs/<timestamp>); an existing non-empty one is refused unless --overwrite",
    )
    p.add_argument("--overwrite", action="store_true", help="write into an existing --out, replacing a run there")
    p.add_argument(
        "--no-plots",
        action="store_true",
        help="do not draw sweep_accuracy.png and sweep_final.png" if sweep else "do not draw loss.png and accuracy.png",
    )
    bar = p.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress", action="store_true", default=None, help="draw the progress bar even when stderr is not a terminal"
    )
    bar.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument(
        "--blas-threads",
        type=_positive_int,
        default=None,
        help="BLAS threads on the CPU (default: measured, 1 or all cores; XPNET_BLAS_THREADS)",
    )
    p.add_argument("--plain", action="store_true", help="plain path: no CUDA graph, no fused kernels")


def add_sweep_arguments(p):
    add_train_arguments(p, sweep=True)
    p.add_argument("--seeds", type=_positive_int, default=3, help="seeds per learning rate, default 3")
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="processes to run the sweep in (shards on a process pool), default 1: in this process",
    )
    p.add_argument(
        "--resume",
        metavar="OUT",
        default=None,
        help="continue the stopped sweep in OUT from its members' checkpoints, in this process, with that "
        "sweep's own options; members that finished are kept as they are",
    )
    p.set_defaults(run_defaults={**p.get_default("run_defaults"), "seeds": 3, "workers": 1})
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="in this process, on NumPy: members trained side by side, one thread each "
        "(default: one per CPU core, at most 8)",
    )
    return p


def add_predict_arguments(p):
    p.add_argument("run_dir", metavar="RUN_DIR", help="a folder written by xpnet train (or its params.npz)")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="PNG or JPEG pictures, IDX image files, .npy arrays")
    p.add_argument("--top", type=_positive_int, default=1, help="print the K most probable digits, default 1")
    p.add_argument(
        "--backend", choices=BACKENDS, default=None, help="where to run the net (default: XPNET_BACKEND or numpy)"
    )
    return p


def build_parser(prog="xpnet"):

    p = _Parser(
        prog=prog,
        description="xpnet: the training chapter of Deep Learning from Scratch, "
        "written once on the Array API (NumPy on the CPU, CuPy on NVIDIA GPUs).",
    )
    p.add_argument("--version", action="version", version=f"xpnet {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{train,sweep,predict,fetch,info}", parser_class=_Parser)
    add_train_arguments(
        sub.add_parser(
            "train",
            help="train the book's TwoLayerNet by mini-batch SGD (chapter 4)",
            description="Train the book's TwoLayerNet by mini-batch SGD (Deep Learning from Scratch, chapter 4).",
        )
    )
    add_sweep_arguments(
        sub.add_parser(
            "sweep",
            help="the learning-rate experiment: many nets at once (rates x seeds)",
            description="Train one TwoLayerNet per learning rate and seed, all as one stacked computation, "
            "and compare them: a table, two figures, each member's metrics and parameters.",
        )
    )
    add_predict_arguments(
        sub.add_parser(
            "predict",
            help="classify your own digit images (PNG, JPEG, IDX, .npy) with a trained run",
            description="Classify digit images with the net of a run folder written by xpnet train. Each picture "
            "is prepared as MNIST's digits were: grayscale, light ink on black, cropped, scaled into 20x20 and "
            "centred by its centre of mass in 28x28. Prints 'file: digit (probability)' per image.",
        )
    )
    fetch = sub.add_parser(
        "fetch",
        help="download a data set and check it",
        description="Download a data set (or check the copy that is there).",
    )
    fetch.add_argument("name", choices=("mnist", "fashion-mnist"), help="data set")
    fetch.add_argument("--data-dir", help="folder (default: XPNET_DATA_DIR or ~/.cache/xpnet)")
    fetch.add_argument("--no-download", action="store_true", help="only check what is there")
    fetch.add_argument(
        "--no-progress", dest="progress", action="store_false", default=None, help="no download progress bars"
    )
    sub.add_parser(
        "info",
        help="versions, backends and devices xpnet sees (for bug reports)",
        description="Versions, backends and devices xpnet sees (paste it into a bug report).",
    )
    return p


def main(argv=None, prog=None):
    """``xpnet ...`` and ``python -m xpnet ...``: the exit code."""
    prog = prog or program_name()
    parser = build_parser(prog)
    parsed = []

    def parse():
        args, extra = parser.parse_known_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            raise UsageError("choose a command: train, sweep, predict, fetch or info")
        if extra:  # an option the subcommand does not know: the message names the subcommand
            raise UsageError(f"unrecognized arguments: {' '.join(extra)}", prog=f"{prog} {args.command}")
        parsed.append(args)
        return 0

    code = _guarded(prog, parse)
    if code:
        return code
    args = parsed[0]
    command = COMMANDS[args.command]
    sub = f"{prog} {args.command}"
    return _guarded(sub, lambda: command(args, sub))


def train_main(argv=None, prog=None):
    """``examples/train.py`` and ``xpnet-train``: ``xpnet train`` under the script's own name."""
    return _script(
        add_train_arguments,
        train_command.run,
        "Train the book's TwoLayerNet by mini-batch SGD (Deep "
        "Learning from Scratch, chapter 4) on NumPy, CuPy, JAX or another Array-API library.",
        argv,
        prog,
    )


def sweep_main(argv=None, prog=None):
    """``examples/sweep.py``: ``xpnet sweep`` under the script's own name."""
    return _script(
        add_sweep_arguments,
        sweep_command.run,
        "The learning-rate experiment: one TwoLayerNet per rate and seed, trained as one stacked computation.",
        argv,
        prog,
    )


def _script(add_arguments, command, description, argv, prog):
    """One command as a script of its own (its options, ``--version``, the exit-code policy)."""
    prog = prog or program_name()
    parser = add_arguments(_Parser(prog=prog, description=description))
    parser.add_argument("--version", action="version", version=f"xpnet {__version__}")
    return _guarded(prog, lambda: command(parser.parse_args(argv), prog))


def _guarded(prog, run):
    """Run a command; every failure becomes one line on stderr and an exit code, never a traceback:
    bad input 2; data, files, memory or a numerical failure 1; Ctrl-C 130, SIGTERM 143, SIGHUP 129."""
    _printable_streams()
    previous = {}
    show = warnings.showwarning
    warnings.showwarning = lambda message, *rest, **kw: print(f"{prog}: warning: {message}", file=sys.stderr)
    try:
        for sig in STOPPING:  # the first stops the command; later ones cannot cut the stop's writing short
            try:
                previous[sig] = signal.signal(sig, stop_once)
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
        print(
            f"{prog}: error: not enough memory ({exc or 'the allocation failed'}); "
            "try a smaller --hidden, --batch-size or data set",
            file=sys.stderr,
        )
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
        warnings.showwarning = show
        stopped = any(signal.getsignal(sig) == signal.SIG_IGN != handler for sig, handler in previous.items())
        for sig, handler in previous.items():
            if not stopped:  # after a stop the process is ending: a late Ctrl-C cannot change its exit code
                signal.signal(sig, handler)


def _printable_streams():
    """A path or name the terminal's encoding cannot show (a non-ASCII ``--out`` under
    ``LANG=C``/``PYTHONIOENCODING=ascii``) is printed with backslash escapes, not turned into
    a UnicodeEncodeError after the work is done; a closed stdout or stderr (``>&-``, where
    Python sets it to None) writes to the null device, so the run still does its work."""
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # the process's stream, open until it exits
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")
