"""What a training run did: :class:`History` (``fit`` returns one per net, ``fit_many`` one per member),
with one config for every run (:func:`new_history`). The run loop (``runloop``) fills it."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ._io import atomic_write, json_text

__all__ = ["History", "new_history"]


@dataclasses.dataclass(repr=False)
class History:
    """What happened during :func:`fit`.

    Attributes:
        loss: loss of every iteration's mini-batch (before its update).
        epochs: one dict per evaluation: ``epoch``, ``iteration`` (updates
            done), ``loss``, ``train_acc``, ``test_acc``, ``seconds``.
        iterations: updates done.
        train_seconds: time spent in training steps (evaluation excluded).
        eval_seconds: time spent evaluating accuracy.
        stopped: None, or why training ended early (a non-finite or diverged
            loss, Ctrl-C, SIGTERM or SIGHUP under the command line).
        nonfinite_iteration: the iteration whose loss went non-finite or diverged.
        signal: the signal number that stopped training (None for Ctrl-C or none).

    ``iterations`` is always the number of updates the parameters hold: a
    stopped run keeps the parameters from before the iteration that went wrong,
    and an interrupted chunk of steps is rolled back.
    """

    loss: list = dataclasses.field(default_factory=list)
    epochs: list = dataclasses.field(default_factory=list)
    iterations: int = 0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    stopped: str | None = None
    nonfinite_iteration: int | None = None
    signal: int | None = None
    config: dict = dataclasses.field(default_factory=dict)

    def __repr__(self) -> str:
        """One line: the net, iterations, final metrics, why it stopped (never the loss list)."""
        c, f = self.config, self.final
        what = [f"{self.iterations} iterations"]
        if c.get("lr") is not None:
            what.append(f"lr {c['lr']:g}")
        if f:
            what.append(f"train acc {f['train_acc']:.4f}")
            if f.get("test_acc") is not None:
                what.append(f"test acc {f['test_acc']:.4f}")
        if self.loss:
            what.append(f"last loss {self.loss[-1]:.4f}")
        what.append(f"stopped: {self.stopped}" if self.stopped else "finished")
        return f"History({', '.join(what)})"

    def _repr_html_(self) -> str:
        """A notebook's view: the final metrics as a small table beside the two curves (figures 4-11, 4-12)."""
        import base64
        import html

        from .plots import figure_data, plot_accuracy, plot_loss

        c, f = self.config, self.final
        rows = [
            ("iterations", self.iterations),
            ("learning rate", c.get("lr")),
            ("batch size", c.get("batch_size")),
            ("train acc", f.get("train_acc")),
            ("test acc", f.get("test_acc")),
            ("last loss", self.loss[-1] if self.loss else None),
            ("it/s, steps only", round(self.iters_per_second) if self.train_seconds > 0 else None),
            ("stopped", self.stopped or "no: finished"),
        ]
        shown = {"learning rate": "{:g}"}
        cells = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>"
            f"{html.escape(shown.get(k, '{:.4f}').format(v) if isinstance(v, float) else str(v))}</td></tr>"
            for k, v in rows
            if v is not None
        )
        images = []
        for draw in (plot_loss, plot_accuracy) if self.epochs else (plot_loss,) if self.loss else ():
            png = base64.b64encode(figure_data(draw(self), "png", dpi=60)).decode("ascii")
            images.append(f"<img src='data:image/png;base64,{png}' style='max-width:380px'/>")
        return (
            f"<div style='display:flex;gap:12px;align-items:flex-start'><table>{cells}</table>{''.join(images)}</div>"
        )

    def mark(self) -> tuple:
        """What the training record holds now, for :meth:`rewind` (a chunk of steps that is
        interrupted before it is fully recorded leaves no trace)."""
        return (len(self.loss), self.iterations, self.train_seconds, self.stopped, self.nonfinite_iteration)

    def rewind(self, mark: tuple) -> None:
        """Back to what :meth:`mark` saw."""
        del self.loss[mark[0] :]
        self.iterations, self.train_seconds, self.stopped, self.nonfinite_iteration = mark[1:]

    @property
    def iters_per_second(self) -> float:
        """Updates per second of the training steps alone (``train_seconds``). A progress bar's rate
        is lower: it counts the wall time, evaluations included."""
        return self.iterations / self.train_seconds if self.train_seconds > 0 else float("nan")

    @property
    def final(self) -> dict:
        return self.epochs[-1] if self.epochs else {}

    def to_dict(self) -> dict:
        loss = [None if not math.isfinite(v) else v for v in self.loss]
        return {
            "config": self.config,
            "iterations": self.iterations,
            "train_seconds": self.train_seconds,
            "eval_seconds": self.eval_seconds,
            "iters_per_second": self.iters_per_second if self.train_seconds > 0 else None,
            "stopped": self.stopped,
            "nonfinite_iteration": self.nonfinite_iteration,
            "signal": self.signal,
            "epochs": self.epochs,
            "loss": loss,
        }

    @classmethod
    def from_dict(cls, d: dict) -> History:
        """The History :meth:`to_dict` wrote (``null`` losses read back as NaN)."""
        return cls(
            loss=[math.nan if v is None else float(v) for v in d.get("loss", [])],
            epochs=list(d.get("epochs", [])),
            iterations=int(d.get("iterations", 0)),
            train_seconds=float(d.get("train_seconds", 0.0)),
            eval_seconds=float(d.get("eval_seconds", 0.0)),
            stopped=d.get("stopped"),
            nonfinite_iteration=d.get("nonfinite_iteration"),
            signal=d.get("signal"),
            config=dict(d.get("config", {})),
        )

    def save(self, path: Any) -> None:
        """Write the history as JSON (temp name, then rename)."""
        atomic_write(path, json_text(self.to_dict()))

    def save_csv(self, path: Any) -> None:
        """Per-epoch metrics as CSV (temp name, then rename)."""
        lines = ["epoch,iteration,loss,train_acc,test_acc,seconds"]
        for r in self.epochs:
            lines.append(
                f"{r['epoch']},{r['iteration']},{r['loss']!r},{r['train_acc']!r},"
                f"{'' if r['test_acc'] is None else repr(r['test_acc'])},{r['seconds']:.3f}"
            )
        atomic_write(path, "\n".join(lines) + "\n")


def new_history(
    *,
    iters: Any,
    batch_size: Any,
    lr: Any,
    grad: Any,
    eval_every: Any,
    per_epoch: Any,
    seed: Any,
    train_size: Any,
    test_size: Any,
    backend: Any,
    dtype: Any,
    **extra: Any,
) -> History:
    """An empty History with the one config of every run (``fit``'s keys; ``fit_many`` adds ``member``
    and ``members``)."""
    return History(
        config={
            "iters": iters,
            "batch_size": batch_size,
            "lr": lr,
            "grad": grad,
            "eval_every": eval_every,
            "per_epoch": per_epoch,
            "seed": seed,
            "train_size": train_size,
            "test_size": test_size,
            "backend": backend,
            "dtype": dtype,
            **extra,
        }
    )
