"""The run loop's contract, on members whose steps are scripted (no net, no backend).

Each member's parameter counts its updates (one scalar); a script says which loss each global
step gives. So every rule of ``RunLoop`` can be checked by number: the snapshot before a chunk,
the first bad step, the roll-back with the good steps replayed, what the history records, and
an interrupt in the middle of a chunk.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from tqdm import tqdm

from xpnet.history import new_history
from xpnet.runloop import DIVERGED_LOSS, RunLoop, evaluation_points, first_bad


class Scripted:
    """K members; member m's parameter is the number of updates it holds."""

    def __init__(self, k, loss=lambda m, step: 1.0, overflow=None, interrupt_at=None, chunk=10):
        self.k, self.loss, self.overflow, self.interrupt_at, self.chunk = k, loss, overflow or {}, interrupt_at, chunk
        self.params = np.zeros(k)
        self.drawn = 0
        self.steppers = []

    def rows(self, n):
        out = np.arange(self.drawn, self.drawn + n).reshape(n, 1)
        self.drawn += n
        return out

    def snapshot(self):
        return self.params.copy()

    def restore(self, snapshot, which):
        self.params[which] = snapshot[which]

    def finite(self):
        return np.isfinite(self.params)

    def stepper(self, which):
        made = _Stepper(self, np.asarray(which).copy())
        self.steppers.append(made)
        return made

    def accuracies(self, x, labels, batch):
        return np.full(self.k, 0.5)


class _Stepper:
    def __init__(self, members, which):
        self.members, self.which, self.chunk, self.closed = members, which, members.chunk, False

    def run(self, rows):
        m = self.members
        losses = np.full((rows.shape[0], m.k), np.nan)
        for i, step in enumerate(rows[:, 0]):
            if m.interrupt_at is not None and step == m.interrupt_at:
                raise KeyboardInterrupt
            for j in np.flatnonzero(self.which):
                losses[i, j] = m.loss(j, int(step))
                m.params[j] = math.inf if m.overflow.get(j) == step else m.params[j] + 1
        return losses

    def close(self):
        self.closed = True


def _histories(k, iters=25, eval_every=10):
    return [
        new_history(
            iters=iters,
            batch_size=1,
            lr=0.1,
            grad="backprop",
            eval_every=eval_every,
            per_epoch=10,
            seed=0,
            train_size=10,
            test_size=None,
            backend="numpy",
            dtype="float64",
        )
        for _ in range(k)
    ]


def _run(members, iters=25, eval_every=10, callbacks=()):
    histories = _histories(members.k, iters, eval_every)
    loop = RunLoop(members, histories, tqdm(disable=True), callbacks, 10, (np.zeros((10, 2)), np.zeros(10)))
    loop.run(iters, eval_every, 10)
    return histories


def test_evaluation_points_follow_the_book_and_end_at_the_last_update():
    assert list(evaluation_points(25, 10)) == [1, 11, 21, 25]
    assert list(evaluation_points(21, 10)) == [1, 11, 21]


def test_first_bad_finds_the_first_nonfinite_loss_then_the_first_diverged_one():
    assert first_bad(np.array([1.0, 2.0, np.nan, np.inf])) == (2, "the loss")
    assert first_bad(np.array([1.0, 2.0])) is None
    high = DIVERGED_LOSS + 1
    assert first_bad(np.array([1.0, high, high])) == (1, "the loss")  # median diverged: the first high one
    assert first_bad(np.array([1.0, 1.0, high])) is None  # one high loss in a good chunk is noise


def test_a_clean_run_records_every_step_and_each_evaluation():
    seen = []
    members = Scripted(2, loss=lambda m, step: 1.0 / (step + 1))
    histories = _run(members, callbacks=[lambda record, h: seen.append(record["iteration"])])
    assert list(members.params) == [25, 25]
    for h in histories:
        assert h.iterations == 25 and h.stopped is None
        assert h.loss == [1.0 / (s + 1) for s in range(25)]
        assert [r["iteration"] for r in h.epochs] == [1, 11, 21, 25]
        assert h.epochs[-1]["train_acc"] == 0.5 and h.epochs[-1]["loss"] == h.loss[-1]
    assert seen == [1, 1, 11, 11, 21, 21, 25, 25]


def test_a_nan_rolls_back_to_the_snapshot_and_replays_the_good_steps():
    """Member 1's loss is NaN at step 13 (iteration 14), inside the chunk [11, 21)."""
    members = Scripted(2, loss=lambda m, step: math.nan if (m, step) == (1, 13) else 1.0)
    h0, h1 = _run(members)
    assert list(members.params) == [25, 13]  # the 2 good steps of the chunk replayed, not the bad one
    assert h1.iterations == 13 and h1.nonfinite_iteration == 14
    assert len(h1.loss) == 14 and math.isnan(h1.loss[-1])  # the bad loss is shown, its update is not kept
    assert h1.stopped.startswith("the loss became nan at iteration 14") and "after 13 iterations" in h1.stopped
    assert [r["iteration"] for r in h1.epochs] == [1, 11]  # no evaluation after it stopped
    assert h0.iterations == 25 and h0.stopped is None  # the other member runs on alone
    assert members.steppers[-1].which.tolist() == [True, False]


def test_a_member_that_diverges_stops_at_its_first_diverged_step():
    members = Scripted(1, loss=lambda m, step: DIVERGED_LOSS + 1 if step >= 15 else 1.0)
    (h,) = _run(members)
    assert h.iterations == 15 and members.params[0] == 15 and "diverged at iteration 16" in h.stopped


def test_parameters_that_overflow_with_finite_losses_keep_the_chunk_start():
    members = Scripted(1, overflow={0: 15})
    (h,) = _run(members)
    assert members.params[0] == 11 and h.iterations == 11  # replaying would overflow again: none kept
    assert h.stopped.startswith("the parameters became NaN or infinite at iteration 21")


def test_an_interrupt_inside_a_chunk_keeps_the_last_recorded_chunk():
    members = Scripted(2, interrupt_at=16)
    h0, h1 = _run(members)
    assert list(members.params) == [11, 11]  # the half-done chunk [11, 21) undone
    for h in (h0, h1):
        assert h.iterations == 11 and len(h.loss) == 11
        assert h.stopped == "interrupted (Ctrl-C) after 11 iterations"
    assert all(s.closed for s in members.steppers)


@pytest.mark.parametrize("xp_name", ["numpy", "array_api_strict"])
def test_index_stream_gives_the_same_batches_however_it_is_chunked(xp_name):
    xp = pytest.importorskip(xp_name, reason=f"{xp_name} is not installed (pip install '.[test]')")
    from xpnet.random import Rng
    from xpnet.runloop import IndexStream

    def stream():
        return IndexStream(Rng(3), 50, 4, xp, None, block=6)

    whole = np.asarray(stream().take(14))
    s = stream()
    parts = np.concatenate([np.asarray(s.take(n)) for n in (1, 5, 8)])
    assert whole.shape == (14, 4) and np.array_equal(whole, parts)
    assert whole.min() >= 0 and whole.max() < 50
