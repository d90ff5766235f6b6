"""``--resume``: a stopped run (``xpnet train``) or sweep (``xpnet sweep``) continued from its
checkpoints, with its own options: those are read back into the command's arguments here, and a
run-shaping option given beside ``--resume`` is refused (the run continues as it started)."""

from __future__ import annotations

import os

from ..checkpoint import load as load_checkpoint
from . import runs
from .errors import UsageError


def _refuse_given(args):
    given = [name for name, default in args.run_defaults.items() if getattr(args, name) != default]
    if given:
        raise UsageError(f"--resume continues a run with its own options; drop --{given[0].replace('_', '-')}")


def _checkpoint_in(folder, what="the run folder xpnet train wrote"):
    path = os.path.join(folder, runs.CHECKPOINT)
    if not os.path.isdir(folder):
        raise UsageError(f"--resume {folder!r} is not a folder; give {what}")
    if not os.path.isfile(path):
        raise UsageError(
            f"--resume {folder!r} holds no {runs.CHECKPOINT} (xpnet train writes one at each evaluation); "
            "there is nothing to continue"
        )
    return path


def _fill(args, loaded, folder):
    """The run's options, from a checkpoint, into ``args``."""
    config, plan = loaded.history.config, loaded.run["plan"]
    args.iters, args.batch_size, args.eval_every = plan["iters"], plan["batch_size"], plan["eval_every"]
    args.grad, args.plain, args.blas_threads = plan["grad"], plan["fast"] is False, plan["blas_threads"]
    args.hidden, args.dtype, args.dataset = loaded.net.hidden_size, config["dtype"], loaded.info["dataset"]
    args.backend, args.out = config["backend"], folder


def take_over_run(args):
    """The checkpoint of the run in ``--resume``, its options put into ``args``."""
    _refuse_given(args)
    path = _checkpoint_in(args.resume)
    loaded = load_checkpoint(path, backend="numpy")  # host arrays: only the options are read here
    if "dataset" not in loaded.info:
        raise UsageError(f"{path} was not written by xpnet train (it names no data set); use xpnet.resume")
    _fill(args, loaded, args.resume)
    args.lr, args.seed = loaded.run["lr"], loaded.run["seed"]
    return loaded


def take_over_sweep(args, member_folder):
    """The members' checkpoint paths of the sweep in ``--resume`` (in the sweep's order), its
    options put into ``args``; ``member_folder(lr, seed)`` names a member's folder."""
    _refuse_given(args)
    folder = args.resume
    if not os.path.isdir(folder):
        raise UsageError(f"--resume {folder!r} is not a folder; give the folder xpnet sweep wrote")
    found = sorted(n for n in os.listdir(folder) if os.path.isfile(os.path.join(folder, n, runs.CHECKPOINT)))
    if not found:
        raise UsageError(
            f"--resume {folder!r} holds no member folder with a {runs.CHECKPOINT} (xpnet sweep writes one per "
            "member at each evaluation); there is nothing to continue"
        )
    loaded = load_checkpoint(os.path.join(folder, found[0], runs.CHECKPOINT), backend="numpy")
    sweep = loaded.info.get("sweep")
    if not sweep or "dataset" not in loaded.info:
        raise UsageError(f"{folder!r} was not written by xpnet sweep (its checkpoints name no sweep)")
    _fill(args, loaded, folder)
    args.lr, args.seed, args.seeds = list(sweep["lr"]), sweep["seed"], sweep["seeds"]
    paths = []
    for lr in args.lr:
        for seed in range(args.seed, args.seed + args.seeds):
            member = os.path.join(folder, member_folder(lr, seed))
            path = os.path.join(member, runs.CHECKPOINT)
            if not os.path.isfile(path):
                raise UsageError(
                    f"--resume {folder!r}: member {member_folder(lr, seed)} has no {runs.CHECKPOINT} (it was "
                    "stopped before its first evaluation); start the sweep again"
                )
            paths.append(path)
    return paths
