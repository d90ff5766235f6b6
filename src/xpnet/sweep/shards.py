"""A sweep in shards on any ``concurrent.futures.Executor`` (a process pool, ``ProcessShards``, a
Dask cluster): the nets split into groups, each group trained stacked by one task, the data sent
once (``transport.py``), every shard's result kept, a shard that failed named, Ctrl-C passed on."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import array_api_compat
import numpy as np

from .. import _progress
from ..backend import asarray, backend_of, namespace, to_numpy
from ..constants import PARAM_NAMES
from ..history import History, new_history
from ..nets import TwoLayerNet
from ..train import prepare_run
from ..workers import portable
from .stacked import SweepPlan, run_stacked
from .transport import dask_client, shared, unshare

__all__ = ["SweepError", "run_sharded"]


class SweepError(RuntimeError):
    """Some shards of a sweep failed (a worker died, a task raised). ``histories`` holds every member's:
    those of the shards that finished, as ``fit_many`` returns them (their nets updated), and for the
    failed ones an empty history whose ``stopped`` says why (their nets as they were)."""

    def __init__(self, message, histories, failed):
        super().__init__(message)
        self.histories, self.failed = histories, failed


def run_sharded(
    executor: Any, shards: int | None, nets: Sequence[TwoLayerNet], data: Any, plan: SweepPlan
) -> list[History]:
    """The sweep in ``shards`` groups on ``executor`` (None: one per CPU core, at most one per net);
    each shard runs ``plan`` for its members on one thread (the executor's workers are the
    parallelism), with no bar and no live figure."""
    k = len(nets)
    shards = min(k, os.cpu_count() or 1) if shards is None else shards
    groups = [[int(i) for i in g] for g in np.array_split(np.arange(k), min(shards, k)) if len(g)]
    host: list[np.ndarray | None] = [to_numpy(data.x), to_numpy(data.labels), None, None]
    if data.test is not None:
        host[2:] = [to_numpy(a) for a in data.test]
    client = dask_client(executor)
    submit_to = client.get_executor() if client is not None and client is executor else executor
    shard_plan = dataclasses.replace(plan, threads=1, progress=False, live=False)
    with shared(executor, host) as sent:
        futures = []
        for g in groups:
            payload = {
                "params": [{key: to_numpy(nets[i].params[key]) for key in PARAM_NAMES} for i in g],
                "shape": (nets[0].input_size, nets[0].hidden_size, nets[0].output_size),
                "dtype": nets[0].dtype,
                "backend": backend_of(data.xp).name,
                "data": sent,
                "plan": dataclasses.replace(
                    shard_plan,
                    lrs=tuple(plan.lrs[i] for i in g),
                    seeds=tuple(plan.seeds[i] for i in g),
                    checkpoints=None if plan.checkpoints is None else tuple(plan.checkpoints[i] for i in g),
                ),
            }
            futures.append(_submit(submit_to, payload))
        interrupt = _wait(submit_to, futures, _shard_lines(plan.progress, groups, futures))
    return _collect(nets, groups, futures, interrupt, plan, data.eval_every)


def _submit(executor, payload):
    """The shard's future; an executor that refuses it (shut down, a lost cluster) gives a future
    that failed with its error, so the other shards still run and the sweep's error names these
    members."""
    try:
        return executor.submit(_shard, payload)
    except Exception as exc:  # noqa: BLE001 - any refusal is this shard's failure
        failed: concurrent.futures.Future = concurrent.futures.Future()
        failed.set_exception(exc)
        return failed


def _shard_lines(progress, groups, futures):
    """With ``progress="log"``: a callable that prints a line as each shard ends (else None)."""
    if progress != "log" or not _progress.wanted(progress):
        return None
    done = []

    def line(future):
        done.append(future)
        members = ", ".join(map(str, groups[futures.index(future)]))
        state = "failed" if not future.cancelled() and future.exception() is not None else "finished"
        print(f"sweep: the shard of members {members} {state} ({len(done)} of {len(futures)})", file=sys.stderr)

    return line


def _wait(executor, futures, on_done=None):
    """Wait for every shard (``on_done(future)`` as each ends); on Ctrl-C (or a signal the command
    line turns into it) the shards not started never start, the running ones are told (where the
    executor can pass a signal on) and return what they recorded. Returns the interrupt, or None."""
    try:
        for future in concurrent.futures.as_completed(futures):
            if on_done is not None:
                on_done(future)
        return None
    except KeyboardInterrupt as exc:
        for f in futures:
            f.cancel()
        tell = getattr(executor, "interrupt", None)
        if tell is not None:
            tell(getattr(exc, "signal_number", None) or signal.SIGINT)
            concurrent.futures.wait(futures)
        return exc


def _collect(nets, groups, futures, interrupt, plan, eval_every):
    """Every member's history, its net updated where its shard finished; SweepError when one failed."""
    lrs, seeds = plan.lrs, plan.seeds
    histories: list[History | None] = [None] * len(nets)
    failed: list[tuple[list[int], str]] = []
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
            h = new_history(
                iters=plan.run.iters,
                batch_size=plan.run.batch_size,
                lr=lrs[i],
                grad="backprop",
                eval_every=eval_every,
                per_epoch=None,
                seed=seeds[i],
                train_size=None,
                test_size=None,
                backend=None,
                dtype=nets[i].dtype,
                member=i,
                members=len(nets),
            )
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


def _shard(payload):
    """One shard's stacked fit, in a worker (a module-level function, so it pickles); an error
    that could not be rebuilt where the sweep waits is sent as a :class:`TaskFailed`."""
    try:
        return _train_shard(payload)
    except Exception as exc:
        result = portable(("error", exc, traceback.format_exc()))
        if result[1] is exc:
            raise
        raise result[1] from None


def _train_shard(payload):
    d, h, c = payload["shape"]
    backend, plan = payload["backend"], payload["plan"]
    nets = []
    for p in payload["params"]:
        net = TwoLayerNet(d, h, c, seed=0, dtype=payload["dtype"], backend=backend)
        net.params = {key: asarray(p[key], backend=backend) for key in PARAM_NAMES}
        nets.append(net)
    x_train, t_train, x_test, t_test = (
        None if a is None else asarray(a, backend=backend) for a in unshare(payload["data"])
    )
    data = prepare_run(nets[0], x_train, t_train, x_test, t_test, plan.run.batch_size, plan.run.eval_every)
    histories = run_stacked(nets, data, plan)
    return histories, [{key: to_numpy(net.params[key]) for key in PARAM_NAMES} for net in nets]
