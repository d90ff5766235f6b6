"""Many nets at once: learning-rate and seed sweeps (``fit_many``).

``fit_many`` trains K ``TwoLayerNet`` of one shape together and returns one History each:
in this process as one stacked computation (``stacked.py``: the run loop over K stacked
nets), or in shards on an executor (``shards.py``: a process pool, ``ProcessShards``, a Dask
cluster), the data sent once (``transport.py``). Member k draws its own mini-batches from its
own seed, so it ends where a separate ``fit(nets[k], lr=lr[k], seed=seed[k])`` ends; a member
whose loss turns non-finite or diverges is stopped alone, keeping its parameters from before
that iteration, and the others train on.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import array_api_compat

from .. import _progress
from .._checks import per_net, positive_int, positive_number, seed_value
from .._typing import ArrayLike
from ..backend import backend_of
from ..checkpoint import Checkpoint, as_checkpoint, same_data
from ..checkpoint import load as load_checkpoint
from ..history import History
from ..live import require_notebook
from ..nets import TwoLayerNet
from ..runloop import Plan
from ..train import check_options, prepare_run
from .shards import SweepError, run_sharded
from .stacked import SweepPlan, run_stacked

__all__ = ["fit_many", "resume_many", "SweepError", "SweepPlan"]


def fit_many(
    nets: Sequence[TwoLayerNet],
    x_train: ArrayLike,
    t_train: ArrayLike,
    x_test: ArrayLike = None,
    t_test: ArrayLike = None,
    *,
    lr: float | Sequence[float] = 0.1,
    seed: int | None | Sequence[int | None] = None,
    iters: int = 10_000,
    batch_size: int = 100,
    eval_every: int | None = None,
    eval_batch: int = 10_000,
    evaluate: bool = True,
    executor: Any = None,
    shards: int | None = None,
    threads: int | None = None,
    blas_threads: int | None = None,
    fast: bool | str = "auto",
    progress: bool | str | None = None,
    live: bool = False,
    checkpoints: Sequence[Any] | None = None,
) -> list[History]:
    """Train ``nets`` (one shape, one dtype, one backend) as one stacked computation.

    Args:
        nets: TwoLayerNet instances; their parameters are updated in place.
        x_train: as for :func:`xpnet.fit`.
        t_train: as for :func:`xpnet.fit`.
        x_test: as for :func:`xpnet.fit`.
        t_test: as for :func:`xpnet.fit`.
        lr: one learning rate, or one per net.
        seed: one seed of the mini-batch draws, or one per net (``fit``'s meaning).
        iters: as for :func:`xpnet.fit`.
        batch_size: as for :func:`xpnet.fit`.
        eval_every: as for :func:`xpnet.fit`.
        evaluate: as for :func:`xpnet.fit`.
        eval_batch: rows per accuracy batch, shared by the members evaluated
            together (memory stays that of ``fit``'s batch).
        executor: a ``concurrent.futures.Executor``: the nets are split into
            ``shards`` groups, each trained by one task (results equal the
            in-process run). None: here.
        shards: how many groups (default: one per CPU core of this machine, at
            most one per net).
        threads: on NumPy, how many members train side by side, one thread
            each (default: one per CPU core, at most 8; each shard on an
            executor uses 1, the executor's workers being the parallelism).
        blas_threads: as for :func:`xpnet.fit` (sized to one member's step).
        fast: ``"auto"``: the backend's stacked fast path (members side by side
            on NumPy's threads, each with ``fit``'s own step; the stacked step
            compiled and scanned on JAX); ``False``: the plain path, the stacked
            Array-API step (batched matrix products) one iteration at a time.
        progress: one progress bar over the whole sweep (net-iterations), as
            for :func:`xpnet.fit` (None: when stderr is a terminal, or in a notebook);
            ``"log"``: a line on stderr now and then (every 10 s) and at the end, and one
            per finished shard on an executor, for logs and pipes.
        live: in a Jupyter notebook, the sweep's accuracy figure drawn under the
            cell while the nets train (as for :func:`xpnet.fit`; in this process only).
        checkpoints: one file path per net: each member's checkpoint, written as
            ``fit(..., checkpoint=...)`` writes one (after each evaluation and on stop), so
            :func:`resume_many` continues the sweep and ``xpnet.resume`` one member. With an
            executor, the paths must be reachable by its workers (this machine's processes).
            Needs a seed per net.

    Returns:
        One :class:`xpnet.History` per net, in order. Ctrl-C stops every member,
        keeping what the histories record (the unfinished chunk rolled back).
    """
    nets = _check_nets(nets)
    k = len(nets)
    lrs = per_net(lr, k, "lr", positive_number)
    seeds = per_net(seed, k, "seed", seed_value)
    iters, batch_size, eval_batch, fast, blas_threads = check_options(
        iters, batch_size, eval_batch, fast, blas_threads, steps=False
    )
    threads, shards = _check_where(executor, threads, shards, live)
    progress = _progress.check(progress)
    kept = _check_checkpoints(checkpoints, seeds)
    data = prepare_run(nets[0], x_train, t_train, x_test, t_test, batch_size, eval_every)
    plan = SweepPlan(
        Plan(iters, batch_size, data.eval_every, data.per_epoch, eval_batch, evaluate, fast, blas_threads),
        tuple(lrs),
        tuple(seeds),
        threads,
        progress,
        live,
        kept,
    )
    if executor is not None:
        return run_sharded(executor, shards, nets, data, plan)
    return run_stacked(nets, data, plan)


def _check_where(executor: Any, threads: Any, shards: Any, live: bool) -> tuple[int | None, int | None]:
    """``(threads, shards)`` checked with the executor they go with, and ``live``."""
    if threads is not None:
        threads = positive_int(threads, "threads")
        if executor is not None:
            raise ValueError(
                "threads is for a sweep in this process; with executor= each shard runs on one "
                "thread (choose how many shards run at once with the executor's workers)"
            )
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError(f"executor must be a concurrent.futures.Executor (with submit), got {type(executor).__name__}")
    if live:
        if executor is not None:
            raise ValueError(
                "live is for a sweep in this process; with executor= plot the histories after: xpnet.plots.plot_sweep"
            )
        require_notebook()
    return threads, None if shards is None else positive_int(shards, "shards")


def _check_checkpoints(checkpoints: Any, seeds: Sequence[Any]) -> tuple[Checkpoint, ...] | None:
    """One checkpoint per net (each as ``fit`` takes it), or None."""
    if checkpoints is None:
        return None
    if isinstance(checkpoints, (str, bytes, os.PathLike)):
        raise TypeError("checkpoints must be a list of file paths, one per net (one path: use fit's checkpoint=)")
    found = [as_checkpoint(c) for c in checkpoints]
    if len(found) != len(seeds) or any(c is None for c in found):
        raise ValueError(f"checkpoints must hold one file path per net ({len(seeds)}), got {len(found)}")
    if len({os.path.abspath(c.path) for c in found if c is not None}) != len(found):
        raise ValueError("checkpoints names one file twice; give each net a file of its own")
    if any(s is None for s in seeds):
        raise ValueError("checkpoints need a seed per net (seed=[0, 1, ...]): a continued run draws its batches again")
    return tuple(c for c in found if c is not None)


def resume_many(
    checkpoints: Sequence[Any],
    x_train: ArrayLike,
    t_train: ArrayLike,
    x_test: ArrayLike = None,
    t_test: ArrayLike = None,
    *,
    backend: str | None = None,
    threads: int | None = None,
    progress: bool | str | None = None,
) -> tuple[list[TwoLayerNet], list[History]]:
    """Continue a sweep whose members ``fit_many(..., checkpoints=...)`` kept, on the same data.

    Members that finished, or stopped because their loss went wrong, come back as they were; the
    others continue stacked from their checkpoints and end where the uninterrupted sweep would
    have, to the bit (members at different iterations, after a kill between two members' files,
    continue in groups). They keep writing their checkpoints.

    Args:
        checkpoints: the members' checkpoint files, in the sweep's order.
        x_train: the sweep's training images (checked by fingerprint, as :func:`xpnet.resume` does).
        t_train: their labels.
        x_test: the test images, when the sweep had them.
        t_test: their labels.
        backend: where to put the nets (default: the active backend).
        threads: as for :func:`fit_many`.
        progress: as for :func:`fit_many`.

    Returns:
        ``(nets, histories)``, one of each per checkpoint, in order.
    """
    paths = [os.fspath(p) for p in checkpoints]
    if not paths:
        raise ValueError("checkpoints must name at least one member's checkpoint file")
    loaded = [load_checkpoint(p, backend) for p in paths]
    threads = None if threads is None else positive_int(threads, "threads")
    progress = _progress.check(progress)
    first, plan = loaded[0], Plan(**loaded[0].run["plan"])
    data = prepare_run(first.net, x_train, t_train, x_test, t_test, plan.batch_size, plan.eval_every)
    groups: dict[int, list[int]] = {}
    for i, (path, ck) in enumerate(zip(paths, loaded)):
        same_data(path, ck.run["data"], data)
        if ck.run["plan"] != first.run["plan"]:
            raise ValueError(f"{path} is not a member of the sweep of {paths[0]} (its plan differs)")
        h = ck.history
        if h.nonfinite_iteration is None and h.iterations < plan.iters:
            h.stopped = h.signal = None
            groups.setdefault(h.iterations, []).append(i)
    for members in groups.values():
        sweep = SweepPlan(
            plan,
            tuple(loaded[i].run["lr"] for i in members),
            tuple(loaded[i].run["seed"] for i in members),
            threads,
            progress,
            checkpoints=tuple(Checkpoint(paths[i], loaded[i].info) for i in members),
            starts=tuple(loaded[i].stream for i in members),
        )
        nets = [loaded[i].net for i in members]
        run_stacked(nets, data, sweep, [loaded[i].history for i in members])
    return [ck.net for ck in loaded], [ck.history for ck in loaded]


def _check_nets(nets: Any) -> Any:
    """The nets of a sweep: TwoLayerNets of one shape and dtype, on one backend and device."""
    if isinstance(nets, TwoLayerNet):
        raise TypeError("nets must be a list of TwoLayerNet (one net: xpnet.fit, or fit_many([net], ...))")
    nets = list(nets)
    if not nets or not all(isinstance(n, TwoLayerNet) for n in nets):
        raise TypeError("nets must be a non-empty list of TwoLayerNet")
    first = nets[0]
    shape = (first.input_size, first.hidden_size, first.output_size)
    where = (backend_of(first.params["W1"]).name, str(array_api_compat.device(first.params["W1"])))
    for i, n in enumerate(nets):
        if (n.input_size, n.hidden_size, n.output_size) != shape or n.dtype != first.dtype:
            raise ValueError(
                f"nets[{i}] is TwoLayerNet{(n.input_size, n.hidden_size, n.output_size)} {n.dtype}, "
                f"but nets[0] is TwoLayerNet{shape} {first.dtype}: a sweep needs one shape and dtype"
            )
        here = (backend_of(n.params["W1"]).name, str(array_api_compat.device(n.params["W1"])))
        if here != where:
            raise ValueError(
                f"nets[{i}] lives on {here[0]} ({here[1]}), but nets[0] on {where[0]} ({where[1]}): "
                f"a sweep needs its nets on one backend and device; move them with net.to(backend)"
            )
    if len({id(n) for n in nets}) != len(nets):
        raise ValueError("nets holds the same TwoLayerNet twice; give each member a net of its own")
    return nets
