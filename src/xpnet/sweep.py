"""Many nets at once: learning-rate and seed sweeps as one stacked computation.

``fit_many`` trains K ``TwoLayerNet`` of one shape together: their parameters
are stacked along a leading axis and one pass of the book's math
(``nets.loss_and_gradient``, the same Array-API code as ``fit``'s, with
batched matrix products) updates all of them. Member k draws its own
mini-batches from its own seed, so it ends where a separate
``fit(nets[k], lr=lr[k], seed=seed[k])`` ends. Behind the acceleration boundary a
backend may run the sweep its own way (``accel.stacked_stepper``): NumPy steps
the members side by side on a thread pool, each with ``fit``'s own step (on a
CPU the gain is every core busy; each member's result is its ``fit``'s to the
last bit); JAX compiles the stacked step and scans it. A member whose loss turns
non-finite or diverges is stopped alone, keeping its parameters from before
that iteration; the others train on. With ``executor=``, the sweep runs in
shards on any ``concurrent.futures.Executor`` (a process pool, a Dask cluster's
``client.get_executor()``), each shard a stacked computation.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import tempfile
from typing import Any, Sequence

import numpy as np
import array_api_compat

from . import _progress, accel
from ._checks import fast_value, one_hot, per_net, positive_int, positive_number, seed_value
from ._typing import ArrayLike
from .accel.registry import backend_of
from .backend import asarray, namespace, to_numpy
from .history import History, new_history
from .live import LiveCurves, require_notebook
from .nets import PARAM_NAMES, TwoLayerNet, correct_counts
from .plots import plot_sweep
from .random import Rng
from .runloop import IndexStream, RunLoop, Steps, index_block, step_flops
from .steps import stacked_step, step_of_data
from .train import prepare_run
from .workers import ProcessShards

__all__ = ["fit_many", "SweepError"]


def fit_many(nets: Sequence[TwoLayerNet], x_train: ArrayLike, t_train: ArrayLike, x_test: ArrayLike = None,
             t_test: ArrayLike = None, *, lr: float | Sequence[float] = 0.1,
             seed: int | None | Sequence[int | None] = None, iters: int = 10_000, batch_size: int = 100,
             eval_every: int | None = None, eval_batch: int = 10_000, evaluate: bool = True,
             executor: Any = None, shards: int | None = None, threads: int | None = None,
             blas_threads: int | None = None, fast: bool | str = "auto",
             progress: bool | None = None, live: bool = False) -> list[History]:
    """Train ``nets`` (one shape, one dtype, one backend) as one stacked computation.

    Args:
        nets: TwoLayerNet instances; their parameters are updated in place.
        x_train, t_train, x_test, t_test: as for :func:`xpnet.fit`.
        lr: one learning rate, or one per net.
        seed: one seed of the mini-batch draws, or one per net (``fit``'s meaning).
        iters, batch_size, eval_every, evaluate: as for :func:`xpnet.fit`.
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
            for :func:`xpnet.fit` (None: when stderr is a terminal, or in a notebook).
        live: in a Jupyter notebook, the sweep's accuracy figure drawn under the
            cell while the nets train (as for :func:`xpnet.fit`; in this process only).

    Returns:
        One :class:`xpnet.History` per net, in order. Ctrl-C stops every member,
        keeping what the histories record (the unfinished chunk rolled back).
    """
    nets = _check_nets(nets)
    k = len(nets)
    lrs = per_net(lr, k, "lr", positive_number)
    seeds = per_net(seed, k, "seed", seed_value)
    iters = positive_int(iters, "iters")
    batch_size = positive_int(batch_size, "batch_size")
    eval_batch = positive_int(eval_batch, "eval_batch")
    fast = fast_value(fast, steps=False)
    if threads is not None:
        threads = positive_int(threads, "threads")
        if executor is not None:
            raise ValueError("threads is for a sweep in this process; with executor= each shard runs on one "
                             "thread (choose how many shards run at once with the executor's workers)")
    if blas_threads is not None:
        blas_threads = positive_int(blas_threads, "blas_threads")
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise TypeError(f"executor must be a concurrent.futures.Executor (with submit), got {type(executor).__name__}")
    shards = None if shards is None else positive_int(shards, "shards")
    if live:
        if executor is not None:
            raise ValueError("live is for a sweep in this process; with executor= plot the histories after: "
                             "xpnet.plots.plot_sweep")
        require_notebook()
    data = prepare_run(nets[0], x_train, t_train, x_test, t_test, batch_size, eval_every)
    if executor is not None:
        return _fit_sharded(executor, shards, nets, lrs, seeds, data,
                            dict(iters=iters, batch_size=batch_size, eval_every=data[5], eval_batch=eval_batch,
                                 evaluate=evaluate, blas_threads=blas_threads, fast=fast, threads=1,
                                 progress=False))
    return _fit_stacked(nets, lrs, seeds, data, iters, batch_size, eval_batch, evaluate, blas_threads, progress, fast,
                        threads, live)


def _check_nets(nets):
    """The nets of a sweep: TwoLayerNets of one shape and dtype, on one backend and device."""
    if isinstance(nets, TwoLayerNet):
        raise TypeError("nets must be a list of TwoLayerNet (one net: xpnet.fit, or fit_many([net], ...))")
    nets = list(nets)
    if not nets or not all(isinstance(n, TwoLayerNet) for n in nets):
        raise TypeError("nets must be a non-empty list of TwoLayerNet")
    first = nets[0]
    shape = (first.input_size, first.hidden_size, first.output_size)
    where = (backend_of(first.params["W1"]), str(array_api_compat.device(first.params["W1"])))
    for i, n in enumerate(nets):
        if (n.input_size, n.hidden_size, n.output_size) != shape or n.dtype != first.dtype:
            raise ValueError(f"nets[{i}] is TwoLayerNet{(n.input_size, n.hidden_size, n.output_size)} {n.dtype}, "
                             f"but nets[0] is TwoLayerNet{shape} {first.dtype}: a sweep needs one shape and dtype")
        here = (backend_of(n.params["W1"]), str(array_api_compat.device(n.params["W1"])))
        if here != where:
            raise ValueError(f"nets[{i}] lives on {here[0]} ({here[1]}), but nets[0] on {where[0]} ({where[1]}): "
                             f"a sweep needs its nets on one backend and device; move them with net.to(backend)")
    if len({id(n) for n in nets}) != len(nets):
        raise ValueError("nets holds the same TwoLayerNet twice; give each member a net of its own")
    return nets


def _fit_stacked(nets, lrs, seeds, data, iters, batch_size, eval_batch, evaluate, blas_threads, progress, fast,
                 member_threads, live=False):
    first = nets[0]
    xp, x, labels, test, per_epoch, eval_every = data
    train_size, k = x.shape[0], len(nets)
    device = array_api_compat.device(x)
    streams = [IndexStream(Rng(s), train_size, batch_size, xp, device, block=index_block(iters, batch_size))
               for s in seeds]
    histories = [new_history(
        iters=iters, batch_size=batch_size, lr=lrs[i], grad="backprop", eval_every=eval_every, per_epoch=per_epoch,
        seed=seeds[i], train_size=train_size, test_size=None if test is None else test[0].shape[0],
        backend=backend_of(xp), dtype=str(first.dtype), member=i, members=k) for i in range(k)]
    members = StackedNets(nets, x, labels, lrs, streams, xp, member_threads)
    board = LiveCurves(lambda: [plot_sweep(list(zip(lrs, seeds, histories)))[0]]) if live else None
    bar = _progress.bar(progress, total=k * iters, unit="net-it", dynamic_ncols=True, smoothing=0.1)
    try:  # members may step side by side (threads on NumPy): BLAS is sized to one member's step
        with accel.run_scope(xp, device, step_flops=step_flops(first, batch_size), blas_threads=blas_threads,
                             fast=fast) as threads:
            loop = RunLoop(members, histories, bar, () if board is None else (board,), eval_batch, (x, labels), test)
            workers = getattr(members.stepper(loop.active), "workers", 1)  # made here, the loop's first
            for h in histories:  # how it ran, for the record (fit's config has blas_threads too)
                h.config.update(blas_threads=threads, threads=min(workers, k))
            loop.run(iters, eval_every, per_epoch, evaluate)
    finally:
        bar.close()
    if board is not None:
        board.finish()
    for i, net in enumerate(nets):
        net.params = {key: xp.asarray(members.params[key][i, ...], copy=True) for key in PARAM_NAMES}
    return histories


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
        self.params = {key: xp.stack([namespace(n.params[key]).asarray(n.params[key], copy=True) for n in nets])
                       for key in PARAM_NAMES}
        self.lr = xp.asarray(lrs, dtype=dt, device=self.device)
        self._current = None  # (members, stepper): the last stepper made

    def rows(self, n):
        return self.xp.stack([s.take(n) for s in self.streams], axis=1)  # (n, K, batch)

    def snapshot(self):
        return {key: self.xp.asarray(v, copy=True) for key, v in self.params.items()}

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
        xp = self.xp
        per_key = [to_numpy(xp.all(xp.isfinite(a), axis=tuple(range(1, a.ndim)))).astype(bool)
                   for a in self.params.values()]
        return np.all(per_key, axis=0)

    def stepper(self, which):
        """The steps of the members ``which`` (host bool (K,)): the backend's stacked stepper, else the
        plain path; the one made for the same members is reused."""
        if self._current is not None and np.array_equal(self._current[0], which):
            return self._current[1]
        xp, params, x, t_hot = self.xp, self.params, self.x, self.t_hot
        data = (x, t_hot, self.lr, xp.asarray(which, device=self.device))
        fast_steps = accel.stacked_stepper(
            xp, stacked_step, params, data, True, member_step=step_of_data, active=which.copy(),
            member=lambda m: ({key: params[key][m, ...] for key in PARAM_NAMES}, (x, t_hot, self.lrs[m])),
            workers=self.threads)
        made = fast_steps or Steps(lambda idx: stacked_step(params, data, idx, xp=xp), xp, shape=(self.k,))
        self._current = (which.copy(), made)
        return made

    def accuracies(self, x, labels, batch):
        """Every member's accuracy, in groups of members side by side (threads on NumPy), each group
        batched (``batch`` member-rows at a time: memory bounded)."""
        xp, k = self.xp, self.k
        n = min(k, accel.workers(xp), self.threads or k)
        groups = [(int(g[0]), int(g[-1]) + 1) for g in np.array_split(np.arange(k), n) if len(g)]

        def accuracies(group):
            p = {key: v[group[0]:group[1], ...] for key, v in self.params.items()}
            rows = max(1, batch // (group[1] - group[0]))
            return to_numpy(correct_counts(p, x, labels, rows, xp=xp)) / x.shape[0]

        return np.concatenate(accel.parallel_map(xp, accuracies, groups))


# ------------------------------------------------------------------ shards on an executor

class SweepError(RuntimeError):
    """Some shards of a sweep failed (a worker died, a task raised). ``histories`` holds every member's:
    those of the shards that finished, as ``fit_many`` returns them (their nets updated), and for the
    failed ones an empty history whose ``stopped`` says why (their nets as they were)."""

    def __init__(self, message, histories, failed):
        super().__init__(message)
        self.histories, self.failed = histories, failed


def _fit_sharded(executor, shards, nets, lrs, seeds, data, options):
    """The sweep in shards on ``executor``: the data sent once (by reference where the executor
    allows), every shard's result kept, a shard that failed named, Ctrl-C passed on."""
    k = len(nets)
    shards = min(k, os.cpu_count() or 1) if shards is None else shards
    groups = [[int(i) for i in g] for g in np.array_split(np.arange(k), min(shards, k)) if len(g)]
    xp, x, labels, test, _, _ = data
    host = [to_numpy(x), to_numpy(labels)] + ([None, None] if test is None else [to_numpy(a) for a in test])
    backend = backend_of(xp)
    with _shared(executor, host) as shared:
        futures = []
        for g in groups:
            payload = {"params": [{key: to_numpy(nets[i].params[key]) for key in PARAM_NAMES} for i in g],
                       "shape": (nets[0].input_size, nets[0].hidden_size, nets[0].output_size),
                       "dtype": nets[0].dtype, "backend": backend, "lrs": [lrs[i] for i in g],
                       "seeds": [seeds[i] for i in g], "data": shared, "options": options}
            futures.append(executor.submit(_shard, payload))
        interrupt = _wait(executor, futures)
    return _collect(nets, lrs, seeds, groups, futures, interrupt, options)


def _wait(executor, futures):
    """Wait for every shard; on Ctrl-C (or a signal the command line turns into it) the shards not
    started never start, the running ones are told (where the executor can pass a signal on) and
    return what they recorded. Returns the interrupt, or None."""
    try:
        concurrent.futures.wait(futures)
        return None
    except KeyboardInterrupt as exc:
        for f in futures:
            f.cancel()
        tell = getattr(executor, "interrupt", None)
        if tell is not None:
            tell(getattr(exc, "signal_number", None) or signal.SIGINT)
            concurrent.futures.wait(futures)
        return exc


def _collect(nets, lrs, seeds, groups, futures, interrupt, options):
    """Every member's history, its net updated where its shard finished; SweepError when one failed."""
    histories, failed = [None] * len(nets), []
    why = None if interrupt is None else getattr(interrupt, "signal_name", "Ctrl-C")
    for g, future in zip(groups, futures):
        error = None if not future.done() or future.cancelled() else future.exception()
        if future.done() and not future.cancelled() and error is None:
            shard_histories, shard_params = future.result()
            for j, i in enumerate(g):
                histories[i] = shard_histories[j]
                xp = namespace(nets[i].params["W1"])
                device = array_api_compat.device(nets[i].params["W1"])
                nets[i].params = {key: xp.asarray(shard_params[j][key], device=device) for key in PARAM_NAMES}
            continue
        if error is not None:
            failed.append((g, error))
        for i in g:  # never ran, or ran elsewhere and was lost: the net keeps the parameters it came with
            h = new_history(iters=options["iters"], batch_size=options["batch_size"], lr=lrs[i], grad="backprop",
                            eval_every=options["eval_every"], per_epoch=None, seed=seeds[i], train_size=None,
                            test_size=None, backend=None, dtype=nets[i].dtype, member=i, members=len(nets))
            if error is not None:
                h.stopped = f"its shard failed: {error}"
            else:
                h.stopped = f"interrupted ({why}) after 0 iterations"
                h.signal = getattr(interrupt, "signal_number", None)
            histories[i] = h
    if failed:
        lines = [f"the shard of members {', '.join(map(str, g))} failed: {error}" for g, error in failed]
        raise SweepError("; ".join(lines), histories, failed)
    return histories


@contextlib.contextmanager
def _shared(executor, host):
    """The training data as the shards get it, sent once: scattered to every worker of a Dask
    cluster; memory-mapped files for processes of this machine; the arrays themselves for threads
    (and, by value, for any other executor)."""
    client = getattr(executor, "_client", None)
    if client is not None and callable(getattr(client, "scatter", None)):
        yield {"scattered": client.scatter([a for a in host if a is not None], broadcast=True),
               "present": [a is not None for a in host]}
        return
    if isinstance(executor, (concurrent.futures.ProcessPoolExecutor, ProcessShards)):
        with tempfile.TemporaryDirectory(prefix="xpnet-sweep-") as folder:
            paths = []
            for n, a in enumerate(host):
                if a is None:
                    paths.append(None)
                    continue
                paths.append(os.path.join(folder, f"{n}.npy"))
                np.save(paths[-1], a, allow_pickle=False)
            yield {"files": paths}
        return
    yield {"arrays": host}


def _unshare(shared):
    """The data a shard received (:func:`_shared`), as host arrays (files memory-mapped)."""
    if "files" in shared:
        return [None if p is None else np.load(p, mmap_mode="r", allow_pickle=False) for p in shared["files"]]
    if "scattered" in shared:  # a worker's copy may sit unaligned in its buffers: aligned once here
        arrays = iter(shared["scattered"])
        return [np.require(next(arrays), requirements=["C", "A"]) if present else None
                for present in shared["present"]]
    return shared["arrays"]


def _shard(payload):
    """One shard's stacked fit, in a worker (a module-level function, so it pickles)."""
    d, h, c = payload["shape"]
    nets = []
    for p in payload["params"]:
        net = TwoLayerNet(d, h, c, seed=0, dtype=payload["dtype"], backend=payload["backend"])
        net.params = {key: asarray(p[key], backend=payload["backend"]) for key in PARAM_NAMES}
        nets.append(net)
    x_train, t_train, x_test, t_test = (None if a is None else asarray(a, backend=payload["backend"])
                                        for a in _unshare(payload["data"]))
    histories = fit_many(nets, x_train, t_train, x_test, t_test, lr=payload["lrs"], seed=payload["seeds"],
                         **payload["options"])
    return histories, [{key: to_numpy(net.params[key]) for key in PARAM_NAMES} for net in nets]
