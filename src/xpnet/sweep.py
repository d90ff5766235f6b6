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

import os
import time
from typing import Any, Sequence

import numpy as np
import array_api_compat

from . import _progress, accel
from ._checks import positive_int, positive_number
from ._typing import ArrayLike
from .backend import backend_of, namespace, to_numpy
from .functions import to_one_hot
from .nets import PARAM_NAMES, TwoLayerNet, forward, loss_and_gradient
from .random import Rng
from .train import (History, IndexStream, Steps, evaluation_points, first_bad, index_block, prepare_run, step_flops,
                    step_of_data, stop_message)

__all__ = ["fit_many"]


def fit_many(nets: Sequence[TwoLayerNet], x_train: ArrayLike, t_train: ArrayLike, x_test: ArrayLike = None,
             t_test: ArrayLike = None, *, lr: float | Sequence[float] = 0.1,
             seed: int | None | Sequence[int | None] = None, iters: int = 10_000, batch_size: int = 100,
             eval_every: int | None = None, eval_batch: int = 10_000, evaluate: bool = True,
             executor: Any = None, shards: int | None = None, threads: int | None = None,
             blas_threads: int | None = None, fast: bool | str = "auto",
             progress: bool | None = None) -> list[History]:
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
            for :func:`xpnet.fit` (None: when stderr is a terminal).

    Returns:
        One :class:`xpnet.History` per net, in order. Ctrl-C stops every member,
        keeping what the histories record (the unfinished chunk rolled back).
    """
    nets = list(nets)
    if not nets or not all(isinstance(n, TwoLayerNet) for n in nets):
        raise TypeError("nets must be a non-empty list of TwoLayerNet")
    shape = (nets[0].input_size, nets[0].hidden_size, nets[0].output_size)
    for i, n in enumerate(nets):
        if (n.input_size, n.hidden_size, n.output_size) != shape or n.dtype != nets[0].dtype:
            raise ValueError(f"nets[{i}] is TwoLayerNet{(n.input_size, n.hidden_size, n.output_size)} {n.dtype}, "
                             f"but nets[0] is TwoLayerNet{shape} {nets[0].dtype}: a sweep needs one shape and dtype")
    lrs = _per_net(lr, len(nets), "lr")
    for i, v in enumerate(lrs):
        positive_number(v, f"lr[{i}]")
    seeds = _per_net(seed, len(nets), "seed")
    if threads is not None:
        threads = positive_int(threads, "threads")
        if executor is not None:
            raise ValueError("threads is for a sweep in this process; with executor= each shard runs on one "
                             "thread (choose how many shards run at once with the executor's workers)")
    if blas_threads is not None:
        blas_threads = positive_int(blas_threads, "blas_threads")
    if fast not in (False, True, "auto"):
        raise ValueError(f"fast must be 'auto', True or False, got {fast!r}")
    if executor is not None:
        return _fit_sharded(executor, shards, nets, lrs, seeds, x_train, t_train, x_test, t_test,
                            dict(iters=iters, batch_size=batch_size, eval_every=eval_every, eval_batch=eval_batch,
                                 evaluate=evaluate, blas_threads=blas_threads, fast=fast, threads=1,
                                 progress=False))
    return _fit_stacked(nets, lrs, seeds, x_train, t_train, x_test, t_test, iters, batch_size, eval_every,
                        eval_batch, evaluate, blas_threads, progress, fast, threads)


def _per_net(value, k, name):
    if isinstance(value, (list, tuple)):
        if len(value) != k:
            raise ValueError(f"{name} must be one value or one per net ({k}), got {len(value)} values")
        return list(value)
    return [value] * k


def _fit_stacked(nets, lrs, seeds, x_train, t_train, x_test, t_test, iters, batch_size, eval_every, eval_batch,
                 evaluate, blas_threads, progress, fast, member_threads):
    iters = positive_int(iters, "iters")
    batch_size = positive_int(batch_size, "batch_size")
    eval_batch = positive_int(eval_batch, "eval_batch")
    first = nets[0]
    xp, x, labels, test, per_epoch, eval_every = prepare_run(first, x_train, t_train, x_test, t_test, batch_size,
                                                             eval_every)
    train_size, k = x.shape[0], len(nets)
    dt = first.params["W1"].dtype
    device = array_api_compat.device(x)
    t_hot = to_one_hot(labels, first.output_size, dtype=dt)
    params = {key: xp.stack([namespace(n.params[key]).asarray(n.params[key], copy=True) for n in nets])
              for key in PARAM_NAMES}
    lr = xp.asarray(lrs, dtype=dt, device=device)
    streams = [IndexStream(Rng(s), train_size, batch_size, xp, device, block=index_block(iters, batch_size))
               for s in seeds]
    histories = [History(config={"iters": iters, "batch_size": batch_size, "lr": lrs[i], "grad": "backprop",
                                 "eval_every": eval_every, "per_epoch": per_epoch, "seed": seeds[i],
                                 "train_size": train_size, "test_size": None if test is None else test[0].shape[0],
                                 "backend": backend_of(xp), "dtype": str(first.dtype), "member": i, "members": k})
                 for i in range(k)]
    active = np.ones(k, dtype=bool)

    def steps_for(members):
        """The steps of ``members`` (host bool mask): the backend's stacked stepper, else the plain path."""
        data = (x, t_hot, lr, xp.asarray(members, device=device))
        fast_steps = accel.stacked_stepper(
            xp, stacked_step, params, data, True, member_step=step_of_data, active=members.copy(),
            member=lambda m: ({key: params[key][m, ...] for key in PARAM_NAMES}, (x, t_hot, lrs[m])),
            workers=member_threads)
        return fast_steps or Steps(lambda idx: stacked_step(params, data, idx, xp=xp), xp, shape=(k,))

    # members may step side by side (threads on NumPy): BLAS is sized to one member's step
    threads = accel.cpu_threads(xp, step_flops(first, batch_size), "backprop", blas_threads)
    t_start = time.perf_counter()
    bar = _progress.bar(progress, total=k * iters, unit="net-it", dynamic_ncols=True, smoothing=0.1)
    try:
        with accel.device_scope(xp), accel.cpu_thread_scope(xp, threads), accel.accelerated(fast is not False):
            stepper, done = steps_for(active), 0
            for h in histories:  # how it ran, for the record (fit's config has blas_threads too)
                h.config.update(blas_threads=threads, threads=min(getattr(stepper, "workers", 1), k))
            for point in evaluation_points(iters, eval_every):
                while done < point and active.any():
                    n = min(point - done, stepper.chunk)
                    rows = xp.stack([s.take(n) for s in streams], axis=1)  # (n, K, batch)
                    snapshot = {key: xp.asarray(v, copy=True) for key, v in params.items()}
                    marks, was_active = [h.mark() for h in histories], active.copy()
                    try:  # Ctrl-C anywhere before the chunk is recorded: neither parameters nor histories keep it
                        t0 = time.perf_counter()
                        losses = to_numpy(stepper.run(rows)).astype(np.float64)
                        seconds = time.perf_counter() - t0
                        stopped = _record(xp, params, snapshot, losses, rows, active, histories, done, seconds,
                                          steps_for)
                    except KeyboardInterrupt:
                        params.update(snapshot)
                        for h, mark in zip(histories, marks):
                            h.rewind(mark)
                        active[:] = was_active
                        raise
                    if stopped:
                        stepper.close()
                        stepper = steps_for(active)  # without the members that stopped
                        bar.total = sum(h.iterations if h.stopped else iters for h in histories)  # the ETA
                    bar.update(sum(h.iterations for h in histories) - bar.n)
                    done += n
                if evaluate and active.any():
                    _evaluate(xp, params, histories, active, (x, labels), test, eval_batch, point, per_epoch,
                              t_start, member_threads)
                if not active.any():
                    break
            stepper.close()
    except KeyboardInterrupt as exc:  # Ctrl-C (or a signal the command line turns into it): keep what was done
        why = getattr(exc, "signal_name", "Ctrl-C")
        for m in np.flatnonzero(active):
            histories[m].stopped = f"interrupted ({why}) after {histories[m].iterations} iterations"
            histories[m].signal = getattr(exc, "signal_number", None)
        active[:] = False
    finally:
        bar.close()
    for i, net in enumerate(nets):
        net.params = {key: xp.asarray(params[key][i, ...], copy=True) for key in PARAM_NAMES}
    return histories


def stacked_step(params, data, idx, xp=None):
    """One SGD step of K stacked nets: member k's mini-batch is row k of ``idx`` (K, batch), its
    parameters ``params[key][k]``, its rate ``lr[k]``; ``data = (x, t, lr, mask)``. The book's pass
    with batched matrix products, then the chapter's update member by member; members whose
    ``mask`` is False keep their parameters. Returns the K losses (before the update)."""
    x, t, lr, mask = data
    xp = namespace(x, params["W1"]) if xp is None else xp
    kk, b = idx.shape
    flat = xp.reshape(idx, (-1,))
    xb = xp.reshape(xp.take(x, flat, axis=0), (kk, b, x.shape[1]))
    tb = xp.reshape(xp.take(t, flat, axis=0), (kk, b, t.shape[1]))
    loss, grads = loss_and_gradient(params, xb, tb, xp=xp)
    for key in PARAM_NAMES:
        shape = (kk,) + (1,) * (params[key].ndim - 1)
        stepped = params[key] - xp.reshape(lr, shape) * grads[key]  # params[key] -= lr * grads[key], per member
        params[key] = xp.where(xp.reshape(mask, shape), stepped, params[key])
    return loss


def _record(xp, params, snapshot, losses, rows, active, histories, done, seconds, steps_for):
    """Extend each active member's history by the chunk; stop the members that went wrong,
    keeping their parameters from before the iteration that did (rolled back and replayed
    alone). Returns whether any member stopped."""
    n = losses.shape[0]
    finite = np.all([_finite(xp, params[key]) for key in PARAM_NAMES], axis=0)  # (K,)
    bad = {}  # member -> (chunk position, what went wrong), by fit's rule
    for m in np.flatnonzero(active):
        found = first_bad(losses[:, m])
        if found is None and not finite[m]:
            found = (n - 1, "the parameters")  # finite losses, but the last updates overflowed
        if found is not None:
            bad[m] = found
    if bad:
        replay = np.zeros(len(active), dtype=bool)
        replay[list(bad)] = True
        device = array_api_compat.device(params["W1"])
        for key in PARAM_NAMES:  # the bad members back to the chunk's start, the others as they are
            shape = (len(active),) + (1,) * (params[key].ndim - 1)
            params[key] = xp.where(xp.reshape(xp.asarray(replay, device=device), shape), snapshot[key], params[key])
        for i in range(max(b for b, _ in bad.values())):  # replay their good steps, the others masked
            still = np.array([m in bad and i < bad[m][0] for m in range(len(active))])
            if still.any():
                replayer = steps_for(still)
                replayer.run(rows[i:i + 1, ...])
                replayer.close()
    for m in np.flatnonzero(active):
        h = histories[m]
        h.train_seconds += seconds
        if m in bad:
            b, what = bad[m]
            h.loss.extend(losses[: b + 1, m].tolist())
            h.iterations = done + b
            h.nonfinite_iteration = done + b + 1
            h.stopped = stop_message(h.nonfinite_iteration, losses[b, m], what, h.config["lr"], h.iterations)
            active[m] = False
        else:
            h.loss.extend(losses[:, m].tolist())
            h.iterations = done + n
    return bool(bad)


def _finite(xp, a):
    """(K,) whether each member's slice of ``a`` is all finite."""
    axes = tuple(range(1, a.ndim))
    return to_numpy(xp.all(xp.isfinite(a), axis=axes)).astype(bool)


def _evaluate(xp, params, histories, active, train, test, eval_batch, point, per_epoch, t_start, threads):
    """Accuracy of every member, in groups of members side by side (threads on NumPy), each group
    batched; one record for each active member."""
    t0 = time.perf_counter()
    k = len(active)
    n = min(k, accel.workers(xp), threads or k)
    groups = [(int(g[0]), int(g[-1]) + 1) for g in np.array_split(np.arange(k), n) if len(g)]

    def accuracies(group):
        p = {key: v[group[0]:group[1], ...] for key, v in params.items()}
        rows = max(1, eval_batch // (group[1] - group[0]))  # eval_batch member-rows at a time: memory bounded
        return [_accuracies(xp, p, *train, rows), None if test is None else _accuracies(xp, p, *test, rows)]

    parts = accel.parallel_map(xp, accuracies, groups)
    train_acc = np.concatenate([a for a, _ in parts])
    test_acc = None if test is None else np.concatenate([b for _, b in parts])
    seconds = time.perf_counter() - t0
    for m in np.flatnonzero(active):
        h = histories[m]
        h.eval_seconds += seconds
        h.epochs.append({"epoch": (point - 1) // per_epoch, "iteration": point, "loss": h.loss[-1],
                         "train_acc": float(train_acc[m]), "test_acc": None if test_acc is None else float(test_acc[m]),
                         "seconds": time.perf_counter() - t_start})


def _accuracies(xp, params, x, labels, batch):
    """(K,) accuracies of the stacked members in ``params`` on ``(x, labels)``, ``batch`` rows at a time."""
    correct = None
    for start in range(0, x.shape[0], batch):
        stop = min(start + batch, x.shape[0])
        a2 = forward(params, x[start:stop, ...], xp=xp)[2]  # (K, rows, C): x meets every member's weights
        hits = xp.sum(xp.astype(xp.argmax(a2, axis=-1) == labels[start:stop], xp.int64), axis=-1)
        correct = hits if correct is None else correct + hits
    return to_numpy(correct) / x.shape[0]


# ------------------------------------------------------------------ shards on an executor

def _fit_sharded(executor, shards, nets, lrs, seeds, x_train, t_train, x_test, t_test, options):
    k = len(nets)
    shards = min(k, os.cpu_count() or 1) if shards is None else positive_int(shards, "shards")
    groups = [list(g) for g in np.array_split(np.arange(k), min(shards, k)) if len(g)]
    host = [None if a is None else to_numpy(a) for a in (x_train, t_train, x_test, t_test)]
    backend = backend_of(namespace(nets[0].params["W1"]))
    futures = []
    for g in groups:
        payload = {"params": [{key: to_numpy(nets[i].params[key]) for key in PARAM_NAMES} for i in g],
                   "shape": (nets[0].input_size, nets[0].hidden_size, nets[0].output_size),
                   "dtype": nets[0].dtype, "backend": backend, "lrs": [lrs[i] for i in g],
                   "seeds": [seeds[i] for i in g], "data": host, "options": options}
        futures.append(executor.submit(_shard, payload))
    histories = [None] * k
    for g, future in zip(groups, futures):
        shard_histories, shard_params = future.result()
        for j, i in enumerate(g):
            histories[i] = shard_histories[j]
            xp = namespace(nets[i].params["W1"])
            device = array_api_compat.device(nets[i].params["W1"])
            nets[i].params = {key: xp.asarray(shard_params[j][key], device=device) for key in PARAM_NAMES}
    return histories


def _shard(payload):
    """One shard's stacked fit, in a worker (a module-level function, so it pickles)."""
    from .backend import asarray
    d, h, c = payload["shape"]
    nets = []
    for p in payload["params"]:
        net = TwoLayerNet(d, h, c, seed=0, dtype=payload["dtype"], backend=payload["backend"])
        net.params = {key: asarray(p[key], backend=payload["backend"]) for key in PARAM_NAMES}
        nets.append(net)
    x_train, t_train, x_test, t_test = (None if a is None else asarray(a, backend=payload["backend"])
                                        for a in payload["data"])
    histories = fit_many(nets, x_train, t_train, x_test, t_test, lr=payload["lrs"], seed=payload["seeds"],
                         **payload["options"])
    return histories, [{key: to_numpy(net.params[key]) for key in PARAM_NAMES} for net in nets]
