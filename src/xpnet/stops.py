"""When a run goes wrong: the first bad step of a chunk (:func:`first_bad`) and the one line that
says why the run stopped (:func:`stop_message`), as the run loop (``runloop``) uses them."""

from __future__ import annotations

import math

import numpy as np

from .constants import DELTA

__all__ = ["DIVERGED_LOSS", "first_bad", "stop_message"]


#: A chunk whose median loss reaches this has diverged: half the loss's ceiling -log(1e-7) = 16.1, where
#: the typical sample's label gets a probability below 3e-4. Chance level is log(10) = 2.3; on MNIST
#: learning rates up to 10 keep chunk medians below it, and 30 or more stick at 14.5.
DIVERGED_LOSS = 0.5 * -math.log(DELTA)


def first_bad(losses):
    """``(position, what)`` of the first non-finite loss, or of the first diverged one in a
    chunk whose median loss has diverged; None when the chunk is fine."""
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        return int(bad[0]), "the loss"
    if losses.size and float(np.median(losses)) >= DIVERGED_LOSS:
        return int(np.flatnonzero(losses >= DIVERGED_LOSS)[0]), "the loss"
    return None


def stop_message(first, value, what, lr, kept):
    """One line for a run stopped at iteration ``first``: what went wrong (``what`` and the loss
    ``value`` there), a hint, and how many updates the kept parameters hold."""
    if what == "the parameters":
        cause = f"the parameters became NaN or infinite at iteration {first}"
    elif math.isfinite(value):
        cause = (
            f"the loss diverged at iteration {first} ({value:.4g}: the network is confidently wrong "
            f"on almost every sample)"
        )
    else:
        cause = f"the loss became {value} at iteration {first}"
    return (
        f"{cause}; the learning rate ({lr}) is probably too large: try --lr {lr / 10:g}. "
        f"Kept the parameters after {kept} iterations"
    )
