"""K nets trained as one stacked computation: their parameters stacked along a leading axis
(:class:`StackedNets`), run by the one run loop, with a plan read by name (:class:`SweepPlan`).

Member k draws its own mini-batches from its own seed, so it ends where a separate
``fit(nets[k], lr=lrs[k], seed=seeds[k])`` ends. The backend may run the members its own
way (``Backend.stacked_stepper``): NumPy steps them side by side on threads, each with
``fit``'s own step; JAX compiles the stacked step and scans it; elsewhere the stacked
Array-API step (``steps.stacked_step``, batched matrix products) runs one iteration at a time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import array_api_compat
import numpy as np

from .. import _progress
from .._checks import one_hot
from ..backend import accelerated, backend_of, faster, namespace, to_numpy
from ..checkpoint import Checkpoint, Keeper, fingerprints
from ..constants import PARAM_NAMES
from ..history import History, new_history
from ..live import LiveCurves
from ..nets import TwoLayerNet, correct_counts
from ..plots import plot_sweep
from ..random import Rng
from ..runloop import IndexStream, Plan, Prepared, RunLoop, Steps, finite, index_block, snapshot, step_flops
from ..steps import stacked_step, step_of_data

__all__ = ["SweepPlan", "run_stacked", "StackedNets"]


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """How a sweep goes, checked by ``fit_many``.

    Attributes:
        run: the run's plan (iterations, batch, evaluations, ``fast``, BLAS threads).
        lrs: one learning rate per net.
        seeds: one seed of the mini-batch draws per net.
        threads: members side by side on NumPy's threads (None: one per core, at most 8).
        progress: the progress bar (None: on a terminal or in a notebook; "log": lines for logs).
        live: the sweep's accuracy figure drawn while it trains (a notebook).
        checkpoints: one per member, each written as ``fit``'s checkpoint is (None: none).
        starts: for members continued from their checkpoints, each one's stream position.
    """

    run: Plan
    lrs: tuple[float, ...]
    seeds: tuple[int | None, ...]
    threads: int | None = None
    progress: bool | str | None = None
    live: bool = False
    checkpoints: tuple[Checkpoint, ...] | None = None
    starts: tuple[dict, ...] | None = None


def run_stacked(
    nets: Sequence[TwoLayerNet], data: Prepared, plan: SweepPlan, histories: list[History] | None = None
) -> list[History]:
    """Train ``nets`` stacked, in this process; their parameters are updated, one History each
    (``histories``: those of members continued from their checkpoints, all at one iteration)."""
    first, xp, x, run = nets[0], data.xp, data.x, plan.run
    k = len(nets)
    device = array_api_compat.device(x)
    streams = [
        IndexStream(Rng(s), x.shape[0], run.batch_size, xp, device, block=index_block(run.iters, run.batch_size))
        for s in plan.seeds
    ]
    histories = histories or [
        new_history(
            iters=run.iters,
            batch_size=run.batch_size,
            lr=plan.lrs[i],
            grad="backprop",
            eval_every=data.eval_every,
            per_epoch=data.per_epoch,
            seed=plan.seeds[i],
            train_size=x.shape[0],
            test_size=None if data.test is None else data.test[0].shape[0],
            backend=backend_of(xp).name,
            dtype=str(first.dtype),
            member=i,
            members=k,
        )
        for i in range(k)
    ]
    members = StackedNets(nets, x, data.labels, plan.lrs, streams, xp, plan.threads)
    board = LiveCurves(lambda: [plot_sweep(list(zip(plan.lrs, plan.seeds, histories)))[0]]) if plan.live else None
    bar = _progress.bar(
        plan.progress, total=k * run.iters, unit="net-it", desc="sweep", dynamic_ncols=True, smoothing=0.1
    )
    try:  # members may step side by side (threads on NumPy): BLAS is sized to one member's step
        scope = backend_of(xp).run_scope(
            device, step_flops=step_flops(first, run.batch_size), grad="backprop", blas_threads=run.blas_threads
        )
        with scope as threads, accelerated(run.fast is not False):
            loop = RunLoop(
                members, histories, bar, () if board is None else (board,), run.eval_batch, (x, data.labels), data.test
            )
            workers = getattr(members.stepper(loop.active), "workers", 1)  # made here, the loop's first
            for h in histories:  # how it ran, for the record (fit's config has blas_threads too)
                h.config.update(blas_threads=threads, threads=min(workers, k))
            if plan.checkpoints is not None:
                loop.on_point = _checkpoint_writer(first, members, histories, streams, plan, data, threads)
            if plan.starts is not None:
                for stream, start in zip(streams, plan.starts):
                    stream.seek(start)
                loop.continue_from(histories[0])
            loop.run(run.iters, data.eval_every, data.per_epoch, run.evaluate)
    finally:
        bar.close()
    if board is not None:
        board.finish()
    for i, net in enumerate(nets):
        net.params = {key: xp.asarray(members.params[key][i, ...], copy=True) for key in PARAM_NAMES}
    return histories


def _checkpoint_writer(first, members, histories, streams, plan, data, threads):
    """The run loop's ``on_point`` for a sweep: each member's checkpoint, as ``fit`` writes one (so
    ``xpnet.resume`` continues one member alone), rewritten only when its history has moved."""
    run = {"plan": dataclasses.asdict(plan.run), "data": fingerprints(data)}
    writers = [
        Keeper(ck, {**run, "seed": plan.seeds[m], "lr": plan.lrs[m]}).bind(
            _Member(first, members, m), histories[m], streams[m], lambda: threads
        )
        for m, ck in enumerate(plan.checkpoints or ())
    ]
    written: dict[int, tuple] = {}

    def write():
        for m, (h, w) in enumerate(zip(histories, writers)):
            mark = (h.iterations, len(h.epochs), h.stopped)
            if written.get(m) != mark:
                w()
                written[m] = mark

    return write


class _Member:
    """Member ``m`` of stacked nets, as a checkpoint reads a net: sizes and its parameters' slices."""

    def __init__(self, first, members, m):
        self.input_size, self.hidden_size, self.output_size = first.input_size, first.hidden_size, first.output_size
        self.dtype, self.weight_init_std = first.dtype, first.weight_init_std
        self.members, self.m = members, m

    @property
    def params(self):
        return {key: self.members.params[key][self.m, ...] for key in PARAM_NAMES}


class StackedNets:
    """K nets' parameters stacked along a leading axis, as the run loop sees them
    (:class:`xpnet.runloop.Members`); steppers from the backend's stacked stepper, else the
    stacked Array-API step."""

    def __init__(self, nets, x, labels, lrs, streams, xp, member_threads):
        self.xp, self.x, self.lrs, self.streams, self.threads = xp, x, lrs, streams, member_threads
        self.k = len(nets)
        dt = nets[0].params["W1"].dtype
        self.device = array_api_compat.device(x)
        self.t_hot = one_hot(xp, labels, nets[0].output_size, dt)  # labels checked by fit_many
        self.params = {
            key: xp.stack([namespace(n.params[key]).asarray(n.params[key], copy=True) for n in nets])
            for key in PARAM_NAMES
        }
        self.lr = xp.asarray(lrs, dtype=dt, device=self.device)
        self._current = None  # (members, stepper): the last stepper made

    def rows(self, n):
        on_host = self._current is not None and getattr(self._current[1], "host_rows", False)
        xp = np if on_host else self.xp
        return xp.stack([s.take(n, on_host) for s in self.streams], axis=1)  # (n, K, batch)

    def snapshot(self):
        return snapshot(self.params)

    def restore(self, snapshot, which):
        xp = self.xp
        if which.all():
            self.params.update(snapshot)
            return
        mask = xp.asarray(which, device=self.device)
        for key in PARAM_NAMES:  # the members `which` back to the snapshot, the others as they are
            shape = (self.k,) + (1,) * (self.params[key].ndim - 1)
            self.params[key] = xp.where(xp.reshape(mask, shape), snapshot[key], self.params[key])

    def finite(self):
        return finite(self.xp, list(self.params.values()), stacked=True)

    def stepper(self, which):
        """The steps of the members ``which`` (host bool (K,)): the backend's stacked stepper, else the
        plain path; the one made for the same members is reused."""
        if self._current is not None and np.array_equal(self._current[0], which):
            return self._current[1]
        xp, params, x, t_hot = self.xp, self.params, self.x, self.t_hot
        data = (x, t_hot, self.lr, xp.asarray(which, device=self.device))
        fast_steps = faster(xp).stacked_stepper(
            stacked_step,
            params,
            data,
            True,
            member_step=step_of_data,
            active=which.copy(),
            member=lambda m: ({key: params[key][m, ...] for key in PARAM_NAMES}, (x, t_hot, self.lrs[m])),
            workers=self.threads,
        )
        made = fast_steps or Steps(lambda idx: stacked_step(params, data, idx, xp=xp), xp, shape=(self.k,))
        self._current = (which.copy(), made)
        return made

    def accuracies(self, x, labels, batch):
        """Every member's accuracy, in groups of members side by side (threads on NumPy), each group
        batched (``batch`` member-rows at a time: memory bounded)."""
        xp, k = self.xp, self.k
        backend = backend_of(xp)
        n = min(k, backend.workers, self.threads or k)
        groups = [(int(g[0]), int(g[-1]) + 1) for g in np.array_split(np.arange(k), n) if len(g)]

        def accuracies(group):
            p = {key: v[group[0] : group[1], ...] for key, v in self.params.items()}
            rows = max(1, batch // (group[1] - group[0]))
            return to_numpy(correct_counts(p, x, labels, rows, xp=xp)) / x.shape[0]

        return np.concatenate(backend.parallel_map(accuracies, groups))
