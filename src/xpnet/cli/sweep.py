"""``xpnet sweep``: the learning-rate experiment, many nets at once: one per rate and seed, trained
stacked; a table, two figures, each member's metrics and parameters in a folder of its own."""

from __future__ import annotations

import os
import sys

import numpy as np

from .._io import atomic_write, json_text
from ..checkpoint import Checkpoint
from ..checkpoint import load as load_checkpoint
from ..nets import TwoLayerNet
from ..plots import plot_sweep
from ..sweep import SweepError, fit_many, resume_many
from ..workers import ProcessShards
from . import runs
from .errors import UsageError
from .resume import take_over_sweep
from .session import session

SWEEP_FILES = ("summary.json", "summary.csv", "sweep_accuracy.png", "sweep_final.png")


def member_folder(lr, seed):
    """A member's folder: the rate written exactly (``lr0.1-seed0``, ``lr0.1000001-seed1``)."""
    rate = f"{lr:g}" if float(f"{lr:g}") == lr else repr(float(lr))
    return f"lr{rate}-seed{seed}"


def check_rates(rates):
    """A rate given twice is refused: its members would be the same nets on the same batches."""
    seen = set()
    for lr in rates:
        if lr in seen:
            raise UsageError(f"--lr lists {lr:g} twice; give each rate once (--seeds N trains N nets per rate)")
        seen.add(lr)


def run(args, prog):
    """The sweep; the exit code (0; 1 when a file could not be written; 128 + the signal when interrupted)."""
    resumed = None if args.resume is None else take_over_sweep(args, member_folder)
    _check_sweep_options(args)
    with session(args, nets=len(args.lr) * args.seeds, extra=SWEEP_FILES, member_dirs=True) as s:
        members = [(lr, args.seed + i) for lr in args.lr for i in range(args.seeds)]  # (rate, seed), checked sizes
        print(
            f"sweep: {len(args.lr)} learning rates x {args.seeds} seeds = {len(members)} TwoLayerNet({s.inputs}, "
            f"{args.hidden}, 10) | iters {args.iters} | batch {args.batch_size} | epoch = {s.per_epoch} "
            f"iterations{s.note}{f' | {args.workers} processes' if args.workers > 1 else ''}"
        )
        sys.stdout.flush()
        if resumed is None:
            nets = [
                TwoLayerNet(s.inputs, args.hidden, 10, seed=seed, dtype=args.dtype, backend=s.name)
                for _, seed in members
            ]
            histories, shard_errors = _train(s, args, members, nets)
        else:
            nets, histories = _continue(s, args, resumed)
            shard_errors = []
        results = [(lr, seed, h) for (lr, seed), h in zip(members, histories)]
        failed = _write_members(s, args, results, nets)
        rows = _sweep_table(results)
        failed += _write_summary(s.out, results, rows, None if args.no_plots else s.used)
    _print_table(rows)
    print(
        f"wrote {s.out}: summary.json, summary.csv{'' if args.no_plots else ', sweep_accuracy.png, sweep_final.png'}"
        f", and a folder for each of the {len(members)} members: "
        f"{', '.join(member_folder(lr, seed) + '/' for lr, seed in members)}"
    )
    return _exit_code(prog, members, histories, failed, shard_errors)


def _check_sweep_options(args):
    """The options only a sweep has, checked before anything is loaded."""
    if args.grad != "backprop":
        raise UsageError("--grad numerical is not for sweeps; use xpnet train --grad numerical")
    if args.threads is not None and args.workers > 1:
        raise UsageError(
            "--threads is for a sweep in this process; with --workers N each process trains its shard on one thread"
        )
    if args.seed + args.seeds - 1 >= 2**32:
        raise UsageError(
            f"--seed {args.seed} with --seeds {args.seeds} goes past the last seed (2**32 - 1); "
            "choose a smaller --seed or fewer --seeds"
        )
    check_rates(args.lr)


def _continue(s, args, paths):
    """``(nets, histories)`` of the sweep in ``--resume``, continued from its members' checkpoints."""
    (x_train, t_train), (x_test, t_test) = s.train, s.test
    done = sum(1 for p in paths if _finished(p, args.iters))
    print(f"resuming {s.out}: {done} of {len(paths)} members had ended; the others continue", flush=True)
    return resume_many(
        paths,
        x_train,
        t_train,
        x_test,
        t_test,
        backend=s.name,
        threads=args.threads,
        progress=_progress_mode(args.progress),
    )


def _finished(path, iters):
    history = load_checkpoint(path, backend="numpy").history
    return history.iterations >= iters or history.nonfinite_iteration is not None


def _checkpoints(s, args, members):
    """Each member's checkpoint in its folder (made now), with what ``--resume`` needs to read back."""
    info = {"dataset": s.used, "sweep": {"lr": list(args.lr), "seed": args.seed, "seeds": args.seeds}}
    found = []
    for lr, seed in members:
        folder = os.path.join(s.out, member_folder(lr, seed))
        os.makedirs(folder, exist_ok=True)
        found.append(Checkpoint(os.path.join(folder, runs.CHECKPOINT), info))
    return found


def _train(s, args, members, nets):
    """``(histories, shard_errors)``: fit_many in this process or on ``--workers`` processes."""
    (x_train, t_train), (x_test, t_test) = s.train, s.test
    executor = ProcessShards(args.workers) if args.workers > 1 else None
    try:
        histories = fit_many(
            nets,
            x_train,
            t_train,
            x_test,
            t_test,
            lr=[lr for lr, _ in members],
            seed=[seed for _, seed in members],
            iters=args.iters,
            batch_size=args.batch_size,
            eval_every=s.eval_every,
            executor=executor,
            shards=args.workers,
            progress=_progress_mode(args.progress),
            blas_threads=args.blas_threads,
            fast=not args.plain,
            threads=args.threads,
            checkpoints=_checkpoints(s, args, members),
        )
    except SweepError as exc:  # a worker died: the others' results are kept
        return exc.histories, exc.failed
    finally:
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)  # nothing is left running
    return histories, []


def _progress_mode(progress):
    """A bar on a terminal; a line every 10 s (and per finished shard) where stderr is a log or a pipe."""
    if progress is None and not (getattr(sys.stderr, "isatty", None) and sys.stderr.isatty()):
        return "log"
    return progress


def _exit_code(prog, members, histories, failed, shard_errors):
    """One line per failure on stderr; 1 for a failed write or shard, 128 + the signal when interrupted."""
    for line in failed:
        print(f"{prog}: error: {line}", file=sys.stderr)
    for group, error in shard_errors:
        names = ", ".join(member_folder(*members[i]) for i in group)
        print(
            f"{prog}: error: the worker holding members {names} failed ({error}); their folders record no "
            f"training, the other members' results are written",
            file=sys.stderr,
        )
    if shard_errors:
        return 1
    signals = {h.signal for h in histories if h.stopped and h.stopped.startswith("interrupted")}
    if signals:
        sig = next(iter(signals))
        print(f"{prog}: stopped: interrupted; each member kept what it had done", file=sys.stderr)
        return 130 if sig is None else 128 + sig
    return 1 if failed else 0


def _write_members(s, args, results, nets):
    """Each member's metrics and parameters in its own folder; the failures, as lines."""
    failed = []
    for (lr, seed, h), net in zip(results, nets):
        h.config.update({"dataset": s.used, "hidden": args.hidden, "device": s.device})
        folder = os.path.join(s.out, member_folder(lr, seed))
        os.makedirs(folder, exist_ok=True)
        failed += runs.write_outputs(folder, net, h, plots=False)[1]
    return failed


def _write_summary(out, results, rows, dataset):
    """summary.json, summary.csv and (``dataset`` given) the two figures; the failures, as lines."""
    try:
        atomic_write(
            os.path.join(out, "summary.json"),
            json_text(
                {
                    "members": [
                        {
                            "lr": lr,
                            "seed": seed,
                            "folder": member_folder(lr, seed),
                            "iterations": h.iterations,
                            "stopped": h.stopped,
                            "final": h.final,
                        }
                        for lr, seed, h in results
                    ],
                    "rates": rows,
                },
            ),
        )
        atomic_write(
            os.path.join(out, "summary.csv"),
            "lr,seeds,train_acc_mean,train_acc_sd,test_acc_mean,"
            "test_acc_sd,stopped\n"
            + "".join(
                f"{r['lr']!r},{r['seeds']},{r['train_mean']!r},{r['train_sd']!r},{r['test_mean']!r},"
                f"{r['test_sd']!r},{r['stopped']}\n"
                for r in rows
            ),
        )
        if dataset is not None:
            plot_sweep(
                results, os.path.join(out, "sweep_accuracy.png"), os.path.join(out, "sweep_final.png"), dataset=dataset
            )
    except OSError as exc:
        return [f"{out}: the summary could not be written ({exc.strerror or exc})"]
    return []


def _print_table(rows):
    print(f"{'lr':>8}  {'seeds':>5}  {'train acc':>17}  {'test acc':>17}  stopped")
    for r in rows:
        print(
            f"{r['lr']:8g}  {r['seeds']:5d}  {r['train_mean']:.4f} +- {r['train_sd']:.4f}  "
            f"{r['test_mean']:.4f} +- {r['test_sd']:.4f}  {r['stopped']}"
        )


def _sweep_table(results):
    """Per learning rate: mean and spread over seeds of the final accuracies, and how many stopped."""
    rows = []
    for lr in sorted({lr for lr, _, _ in results}):
        hs = [h for r, _, h in results if r == lr]

        def stat(key, hs=hs):
            v = np.array([h.final.get(key) if h.final.get(key) is not None else np.nan for h in hs], dtype=float)
            return (
                float(np.nanmean(v)) if np.isfinite(v).any() else float("nan"),
                float(np.nanstd(v)) if np.isfinite(v).any() else float("nan"),
            )

        (tm, ts), (em, es) = stat("train_acc"), stat("test_acc")
        rows.append(
            {
                "lr": lr,
                "seeds": len(hs),
                "train_mean": tm,
                "train_sd": ts,
                "test_mean": em,
                "test_sd": es,
                "stopped": sum(1 for h in hs if h.stopped),
            }
        )
    return rows
