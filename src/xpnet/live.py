"""Curves drawn while a net trains, in a Jupyter notebook (d2l's ``ProgressBoard``, for the chapter).

``fit(..., live=True)`` draws figures 4-11 (the loss) and 4-12 (the accuracy) under the cell and
updates them in place at each evaluation, at most ``MAX_REDRAWS_PER_SECOND`` times a second; when
training ends they are drawn once more, and are then the very figures ``plot_loss`` and
``plot_accuracy`` give. ``fit_many(..., live=True)`` does the same with the sweep's accuracy figure.
"""

from __future__ import annotations

import time

from . import _progress

__all__ = ["LiveCurves", "require_notebook", "MAX_REDRAWS_PER_SECOND"]

#: At most this many redraws a second (each one renders PNGs: more would slow training).
MAX_REDRAWS_PER_SECOND = 2


def require_notebook(name="live"):
    """ValueError naming ``live`` outside a Jupyter kernel, with what to do instead."""
    if not _progress.in_notebook():
        raise ValueError(
            f"{name}=True draws the curves in a Jupyter notebook, and this is not one; in a script, "
            "plot the history when training ends: xpnet.plot_loss(history), xpnet.plot_accuracy(history)"
        )


class LiveCurves:
    """A callback ``(record, history)`` that redraws figures in place; :meth:`finish` draws them last.

    Args:
        draw: ``draw() -> [figure, ...]``, the figures of now.
    """

    def __init__(self, draw):
        from IPython.display import display

        self.draw, self.last, self.redraws = draw, float("-inf"), 0
        self.handles = [display(fig, display_id=True) for fig in self.draw()]

    def __call__(self, record=None, history=None):
        now = time.monotonic()
        if now - self.last >= 1 / MAX_REDRAWS_PER_SECOND:
            self._update()
            self.last = time.monotonic()

    def _update(self):
        for handle, fig in zip(self.handles, self.draw()):
            handle.update(fig)
        self.redraws += 1

    def finish(self):
        """The last frame: the figures as the finished history gives them."""
        self._update()
