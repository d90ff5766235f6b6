"""``xpnet train``: the book's experiment: load, train with a progress bar, write metrics, parameters, plots."""

from __future__ import annotations

import math
import os
import sys
import time

from ..backend import synchronize
from ..checkpoint import Checkpoint
from ..nets import TwoLayerNet
from ..train import fit, resume
from . import runs
from .resume import take_over_run
from .session import duration, print_epoch, print_summary, session


def run(args, prog):
    """Train one TwoLayerNet as the chapter does; the exit code (0, or 1 when stopped by a bad loss or a
    file that could not be written; 128 + the signal when interrupted)."""
    loaded = None if args.resume is None else take_over_run(args)
    with session(args) as s:
        t_wall = time.perf_counter()
        net, history = _train(args, s) if loaded is None else _continue(args, s, loaded)
        wall = time.perf_counter() - t_wall
        history.config.update({"dataset": s.used, "hidden": args.hidden, "device": s.device})
        written, failed = runs.write_outputs(s.out, net, history, plots=not args.no_plots)
    print_summary(history, wall)
    if written:
        print(f"wrote {', '.join(os.path.join(s.out, w) for w in written)}")
    for line in failed:
        print(f"{prog}: error: {line}", file=sys.stderr)
    if history.stopped:
        print(f"{prog}: stopped: {history.stopped}", file=sys.stderr)
        if history.nonfinite_iteration is not None:
            return 1
        return 130 if history.signal is None else 128 + history.signal
    return 1 if failed else 0


def _header(args, s):
    print(
        f"net: TwoLayerNet({s.inputs}, {args.hidden}, 10) | iters {args.iters} | batch {args.batch_size} | "
        f"lr {args.lr:g} | grad {args.grad} | seed {args.seed} | epoch = {s.per_epoch} iterations{s.note}"
    )


def _train(args, s):
    """A new run: ``(net, history)``, its checkpoint kept in the run folder."""
    (x_train, t_train), (x_test, t_test) = s.train, s.test
    net = TwoLayerNet(s.inputs, args.hidden, 10, seed=args.seed, dtype=args.dtype, backend=s.name)
    _header(args, s)
    if args.grad == "numerical":
        _announce_numerical_cost(net, x_train, t_train, args, s.xp)
    sys.stdout.flush()
    history = fit(
        net,
        x_train,
        t_train,
        x_test,
        t_test,
        iters=args.iters,
        batch_size=args.batch_size,
        lr=args.lr,
        grad=args.grad,
        eval_every=s.eval_every,
        seed=args.seed,
        callbacks=[print_epoch],
        progress=args.progress,
        fast=not args.plain,
        blas_threads=args.blas_threads,
        checkpoint=Checkpoint(os.path.join(s.out, runs.CHECKPOINT), {"dataset": s.used}),
    )
    return net, history


def _continue(args, s, loaded):
    """The run in ``--resume``'s folder, continued from its checkpoint: ``(net, history)``."""
    (x_train, t_train), (x_test, t_test) = s.train, s.test
    _header(args, s)
    done = loaded.history.iterations
    if done >= args.iters:
        print(f"resuming {s.out}: the run had finished ({done} iterations); writing its files again", flush=True)
    else:
        print(f"resuming {s.out}: {done} of {args.iters} iterations done", flush=True)
    return resume(
        os.path.join(s.out, runs.CHECKPOINT),
        x_train,
        t_train,
        x_test,
        t_test,
        backend=s.name,
        callbacks=[print_epoch],
        progress=args.progress,
    )


def _announce_numerical_cost(net, x_train, t_train, args, xp):
    """Time one numerical gradient (after a warm-up) and say what the run will cost."""
    for _ in range(2):
        t0 = time.perf_counter()
        net.numerical_gradient(x_train[: args.batch_size, ...], t_train[: args.batch_size])
        synchronize(xp)
    each = time.perf_counter() - t0
    n_params = sum(math.prod(v.shape) for v in net.params.values())
    print(
        f"numerical gradient: {n_params} parameters x 2 loss evaluations per iteration; "
        f"measured {each * 1e3:.1f} ms per gradient, so about {duration(each * args.iters)} "
        f"for {args.iters} iterations"
    )
