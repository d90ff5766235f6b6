"""The one run loop: chunks of training steps for one net or K stacked nets.

``fit`` runs it for one net (:class:`OneNet`, through :func:`run_one`), ``fit_many`` for K
stacked nets (``sweep.stacked.StackedNets``); what differs between them is only where the
parameters live, which a :class:`Members` answers. For every chunk :class:`RunLoop`
snapshots the parameters and marks the histories, runs the chunk, looks for each member's
first bad step (:func:`first_bad`), rolls back what an interrupt left half done, stops a
member that went wrong with its parameters from before that step (rolled back, its good
steps replayed), and records the rest. Its inputs are a :class:`Plan` (how the run goes)
and a :class:`Prepared` (the data, checked).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from typing import Any, Protocol

import array_api_compat
import numpy as np

from . import _progress
from ._checks import one_hot
from ._typing import Array
from .backend import Stepper, accelerated, backend_of, faster, to_numpy
from .history import History
from .incremental_numgrad import sparse_pays
from .nets import correct_counts
from .random import Rng
from .stepping import IndexStream, Steps, index_block
from .steps import numerical_step, step_of_data
from .stops import DIVERGED_LOSS, first_bad, stop_message

__all__ = [
    "Plan",
    "Prepared",
    "run_one",
    "Members",
    "RunLoop",
    "OneNet",
    "IndexStream",
    "Steps",
    "evaluation_points",
    "snapshot",
    "finite",
    "first_bad",
    "stop_message",
    "DIVERGED_LOSS",
]


@dataclasses.dataclass(frozen=True)
class Plan:
    """How a run goes, checked by ``fit`` or ``fit_many`` before it starts."""

    iters: int
    batch_size: int
    eval_every: int
    per_epoch: int
    eval_batch: int = 10_000
    evaluate: bool = True
    fast: Any = "auto"
    blas_threads: int | None = None
    grad: str = "backprop"


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A run's data, checked once where it enters (``fit``, ``fit_many``).

    Attributes:
        xp: the namespace of the data and the nets.
        x: the training images (N, input) in the nets' dtype.
        labels: their int64 labels (N,).
        test: ``(x_test, labels_test)`` in the same forms, or None.
        per_epoch: iterations in one epoch, ``max(N // batch_size, 1)``.
        eval_every: iterations between accuracy evaluations.
    """

    xp: Any
    x: Array
    labels: Array
    test: tuple[Array, Array] | None
    per_epoch: int
    eval_every: int


def run_one(net, data, history, plan, seed, lr, callbacks=(), progress=None, progress_file=None, keep=None):
    """``fit``'s run: one net in the run loop, inside the backend's run scope, with a progress bar;
    ``data``: a :class:`Prepared`; fills ``history``. ``keep``: a :class:`Keeper` (checkpoints);
    with a stream position (``keep.start``) the run continues from ``history.iterations``."""
    xp, x, labels = data.xp, data.x, data.labels
    bar = _progress.bar(
        progress,
        progress_file,
        total=plan.iters,
        initial=history.iterations,
        unit="it" if plan.grad == "backprop" else "grad",
        dynamic_ncols=True,
        smoothing=0.1,
    )
    try:
        scope = backend_of(xp).run_scope(
            array_api_compat.device(x),
            step_flops=step_flops(net, plan.batch_size),
            grad=plan.grad,
            blas_threads=plan.blas_threads,
        )
        with scope as threads, accelerated(plan.fast is not False):
            history.config["blas_threads"] = threads
            t_hot = one_hot(xp, labels, net.output_size, net.params["W1"].dtype)  # labels checked by fit
            one = OneNet(net, x, t_hot, lr, plan, Rng(seed), xp)
            loop = RunLoop(one, [history], bar, callbacks, plan.eval_batch, (x, labels), data.test)
            stepper = one.stepper(None)
            now = lambda: getattr(stepper, "blas_threads", threads)  # noqa: E731  (measured ones change)
            if keep is not None:
                loop.on_point = keep.bind(net, history, one.indices, now)
                if keep.start is not None:
                    one.indices.seek(keep.start)
                    loop.continue_from(history)
            try:
                loop.run(plan.iters, plan.eval_every, plan.per_epoch, plan.evaluate)
            finally:
                history.config["blas_threads"] = now()
                if getattr(stepper, "choice", None) is not None and stepper.choice.changes:
                    history.config["blas_threads_measured"] = stepper.choice.changes
    finally:
        bar.close()


class Members(Protocol):
    """K nets' parameters, as the run loop sees them (K = 1 for ``fit``)."""

    k: int

    def rows(self, n: int) -> Any:
        """The next ``n`` steps' mini-batch indices, as the steppers take them."""

    def snapshot(self) -> Any:
        """A copy of every member's parameters."""

    def restore(self, snapshot: Any, which: np.ndarray) -> None:
        """Put the members ``which`` (host bool (K,)) back to ``snapshot``."""

    def finite(self) -> np.ndarray:
        """Host bool (K,): whether each member's parameters are all finite."""

    def stepper(self, which: np.ndarray) -> Stepper:
        """A stepper of the members ``which``: the one made for them, or a new one."""

    def accuracies(self, x: Any, labels: Any, batch: int) -> np.ndarray:
        """Host float (K,): each member's accuracy on ``(x, labels)``, ``batch`` rows at a time."""


def evaluation_points(iters, eval_every):
    """Iterations after which accuracy is evaluated: after update i (0-based) when
    ``i % eval_every == 0``, as the book does, and after the last (made one at a time)."""
    last = 0
    for i in range(0, iters, eval_every):
        last = i + 1
        yield last
    if last != iters:
        yield iters


class RunLoop:
    """Trains ``members`` to every evaluation point, evaluates, calls back; one :class:`History` each.

    Args:
        members: the nets' parameters (:class:`Members`).
        histories: one per member, filled in place.
        bar: a tqdm bar over net-iterations (members x iterations).
        callbacks: ``cb(record, history)`` after each member's evaluation.
        eval_batch: rows per accuracy batch.
        train, test: ``(x, labels)`` (test may be None).
    """

    def __init__(
        self,
        members: Members,
        histories: list[History],
        bar,
        callbacks=(),
        eval_batch=10_000,
        train: Any = None,
        test: Any = None,
    ):
        self.members, self.histories, self.bar = members, histories, bar
        self.callbacks, self.eval_batch, self.train, self.test = list(callbacks), eval_batch, train, test
        self.active = np.ones(members.k, dtype=bool)
        self.done = 0
        self.t_start = time.perf_counter()
        self.on_point = None  # called after each evaluation point and when the run ends (checkpoints)

    def continue_from(self, history):
        """Go on from where ``history`` (one member's, read from a checkpoint) stopped."""
        self.done = history.iterations
        self.t_start -= history.final.get("seconds", 0.0)

    def run(self, iters, eval_every, per_epoch, evaluate=True):
        """The whole run. Ctrl-C (or a signal the command line turns into it) stops every member,
        keeping what its history records."""
        self.iters, self.stepper = iters, self.members.stepper(self.active)
        if not evaluate and self.on_point is None:
            eval_every = iters  # nothing to do between the steps: one stretch, chunks as the stepper likes
        try:
            for point in evaluation_points(iters, eval_every):
                if self._reached(point, evaluate):
                    continue
                self.train_to(point)
                if evaluate and self.active.any():
                    self.evaluate(point, per_epoch)
                if self.on_point is not None:
                    self.on_point()
                if not self.active.any():
                    break
        except KeyboardInterrupt as exc:
            why = getattr(exc, "signal_name", "Ctrl-C")
            for m in np.flatnonzero(self.active):
                h = self.histories[m]
                h.stopped = f"interrupted ({why}) after {h.iterations} iterations"
                h.signal = getattr(exc, "signal_number", None)
            self.active[:] = False
            if self.on_point is not None:
                self.on_point()  # a Ctrl-C during this write leaves the previous checkpoint whole
        finally:
            self.stepper.close()

    def _reached(self, point, evaluate):
        """Whether a continued run has passed ``point`` already (its evaluation recorded, when there is one)."""
        if point > self.done:
            return False
        if point < self.done or not evaluate:
            return True
        return all(h.epochs and h.epochs[-1]["iteration"] == point for h in self.histories)

    def train_to(self, point):
        """Step every active member until ``point`` updates are done (or it stops)."""
        members, histories, active = self.members, self.histories, self.active
        while self.done < point and active.any():
            n = min(point - self.done, self.stepper.chunk)
            rows = members.rows(n)
            snapshot, marks, was_active = members.snapshot(), [h.mark() for h in histories], active.copy()
            try:  # Ctrl-C anywhere before the chunk is recorded: neither parameters nor histories keep it
                t0 = time.perf_counter()
                losses = to_numpy(self.stepper.run(rows)).astype(np.float64).reshape(n, members.k)
                seconds = time.perf_counter() - t0
                bad = self._find_bad(losses)
                kept = self._roll_back(bad, snapshot, rows) if bad else {}
                self._record(losses, bad, kept, seconds)
            except KeyboardInterrupt:
                members.restore(snapshot, np.ones(members.k, dtype=bool))
                for h, mark in zip(histories, marks):
                    h.rewind(mark)
                active[:] = was_active
                raise
            if bad and active.any():
                self.stepper.close()
                self.stepper = members.stepper(active)  # without the members that stopped
            self.done += n
            if bad:
                self.bar.total = sum(h.iterations if h.stopped else self.iters for h in histories)  # the ETA
            if members.k == 1 and not bad and not self.bar.disable:  # before the update that draws: the last
                # frame shows the last loss
                self.bar.set_postfix(loss=f"{losses[-1, 0]:.4f}", refresh=False)
            self.bar.update(sum(h.iterations for h in histories) - self.bar.n)

    def _find_bad(self, losses):
        """``{member: (chunk position, what)}`` for the active members that went wrong, by one rule:
        the first non-finite or diverged loss, else the last step when the parameters overflowed."""
        n, finite, bad = losses.shape[0], self.members.finite(), {}
        for m in np.flatnonzero(self.active):
            found = first_bad(losses[:, m])
            if found is None and not finite[m]:
                found = (n - 1, "the parameters")  # finite losses, but the last updates overflowed
            if found is not None:
                bad[int(m)] = found
        return bad

    def _roll_back(self, bad, snapshot, rows):
        """The members that went wrong back to the chunk's start, then their good steps replayed (one
        stepper for each number of good steps); a member whose earlier update had overflowed already
        keeps the chunk's start. Returns ``{member: updates of the chunk it keeps}``."""
        members = self.members
        which = np.zeros(members.k, dtype=bool)
        which[list(bad)] = True
        members.restore(snapshot, which)
        for good in sorted({b for b, _ in bad.values() if b}):
            group = np.array([m in bad and bad[m][0] == good for m in range(members.k)])
            replay = members.stepper(group)
            replay.run(rows[:good, ...])
            if replay is not self.stepper:
                replay.close()
        finite = members.finite()
        overflowed = np.array([m in bad and not finite[m] for m in range(members.k)])
        if overflowed.any():
            members.restore(snapshot, overflowed)
        return {m: 0 if overflowed[m] else b for m, (b, _) in bad.items()}

    def _record(self, losses, bad, kept, seconds):
        """Extend each active member's history by the chunk; the members in ``bad`` stop, keeping
        ``kept[m]`` of the chunk's updates."""
        done, n = self.done, losses.shape[0]
        for m in np.flatnonzero(self.active):
            h = self.histories[m]
            h.train_seconds += seconds
            if m in bad:
                b, what = kept[m], bad[m][1]
                first = done + bad[m][0] + 1  # the iteration that went wrong
                h.loss.extend(losses[: b + 1, m].tolist())
                h.iterations = done + b
                h.nonfinite_iteration = first
                h.stopped = stop_message(first, losses[min(b, n - 1), m], what, h.config["lr"], h.iterations)
                self.active[m] = False
            else:
                h.loss.extend(losses[:, m].tolist())
                h.iterations = done + n

    def evaluate(self, point, per_epoch):
        """Accuracy of every active member on the training (and test) set; one record each; the callbacks."""
        t0 = time.perf_counter()
        train_acc = self.members.accuracies(self.train[0], self.train[1], self.eval_batch)
        test = self.test
        test_acc = None if test is None else self.members.accuracies(test[0], test[1], self.eval_batch)
        seconds = time.perf_counter() - t0
        for m in np.flatnonzero(self.active):
            h = self.histories[m]
            h.eval_seconds += seconds
            record = epoch_record(
                point,
                per_epoch,
                h.loss[-1],
                float(train_acc[m]),
                None if test_acc is None else float(test_acc[m]),
                time.perf_counter() - self.t_start,
            )
            h.epochs.append(record)
            for cb in self.callbacks:
                with _above_bar(None if self.bar.disable else self.bar):
                    cb(record, h)


def epoch_record(point, per_epoch, loss, train_acc, test_acc, seconds) -> dict:
    """One evaluation's entry of ``History.epochs``."""
    return {
        "epoch": (point - 1) // per_epoch,
        "iteration": point,
        "loss": loss,
        "train_acc": train_acc,
        "test_acc": test_acc,
        "seconds": seconds,
    }


# ------------------------------------------------------------------ one net, mini-batches, plain steps


class OneNet:
    """One net's parameters as the run loop sees them (:class:`Members`, K = 1): its mini-batches from
    ``rng``, its steps from the backend's stepper (CUDA graphs, JAX scans), else :class:`Steps`."""

    k = 1

    def __init__(self, net, x, t_hot, lr, plan, rng, xp):
        self.params, self.xp = net.params, xp
        self.indices = IndexStream(
            rng,
            x.shape[0],
            plan.batch_size,
            xp,
            array_api_compat.device(x),
            block=index_block(plan.iters, plan.batch_size),
        )
        self._stepper = make_stepper(xp, net.params, x, t_hot, lr, plan.grad, plan.fast)

    def rows(self, n):
        return self.indices.take(n, on_host=getattr(self._stepper, "host_rows", False))

    def snapshot(self):
        return snapshot(self.params)

    def restore(self, snapshot, which):
        """In place where arrays can change (buffers a CUDA graph recorded stay valid), else by
        rebinding (JAX)."""
        for k, v in snapshot.items():
            if array_api_compat.is_writeable_array(self.params[k]):
                self.params[k][...] = v
            else:
                self.params[k] = v

    def finite(self):
        return finite(self.xp, list(self.params.values()))

    def stepper(self, which):
        return self._stepper

    def accuracies(self, x, labels, batch):
        return np.array([float(correct_counts(self.params, x, labels, batch, xp=self.xp)) / x.shape[0]])


def finite(xp, arrays, stacked=False):
    """Host bool (K,): whether every entry of ``arrays`` is finite, one answer per member (K entries
    along the leading axis of each array when ``stacked``, else one answer, K = 1); one host read."""
    fast = faster(xp).finite(arrays, stacked)
    if fast is not NotImplemented:
        return to_numpy(fast).astype(bool).reshape(-1)
    per = [xp.all(xp.isfinite(a), axis=tuple(range(1, a.ndim)) if stacked else None) for a in arrays]
    return to_numpy(xp.all(xp.stack(per), axis=0)).astype(bool).reshape(-1)


def snapshot(params):
    """A copy of every array of ``params`` that can change in place; immutable ones (JAX) as they are."""
    return {
        k: array_api_compat.array_namespace(v).asarray(v, copy=True) if array_api_compat.is_writeable_array(v) else v
        for k, v in params.items()
    }


def make_stepper(xp, params, x, t_hot, lr, grad, fast):
    """The backend's stepper for backprop when it has one (CUDA graphs, JAX scans), else :class:`Steps`."""
    if grad == "numerical":
        sparse = sparse_pays(xp, x)  # once for the run: the steps read nothing back
        return Steps(functools.partial(numerical_step, params, x, t_hot, lr=lr, xp=xp, sparse=sparse), xp, chunk=1)

    data = (x, t_hot, lr)
    fast_steps = None if fast is False else faster(xp).stepper(step_of_data, params, data, fast)
    return fast_steps or Steps(lambda idx: step_of_data(params, data, idx, xp=xp), xp)


def step_flops(net, batch_size):
    """Floating-point operations of one backprop step (its three large matrix products)."""
    return 2 * batch_size * net.hidden_size * (2 * net.input_size + 2 * net.output_size)


@contextlib.contextmanager
def _above_bar(bar):
    """Print cleanly above a live progress bar."""
    if bar is None:
        yield
        return
    bar.clear()
    try:
        yield
    finally:
        bar.refresh()
