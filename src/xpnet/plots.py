"""The chapter's figures, drawn with matplotlib's object interface.

Figures are ``matplotlib.figure.Figure`` objects made directly, never
through pyplot: plotting changes neither the user's backend nor pyplot's
state, and works headless. The functions return the figure, which a notebook
shows inline as it is, with no magic and no pyplot: as a cell's last value and
through ``display(fig)``, as PNG (and SVG too where :data:`FORMATS` or the
frontend asks for it). With ``path``, a PNG is written under a temporary name
and renamed.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ._io import atomic_path
from ._typing import Array

if TYPE_CHECKING:  # only for the annotations (History: xpnet.history.History, which imports this module)
    from matplotlib.figure import Figure

__all__ = ["subplots", "save_figure", "plot_loss", "plot_accuracy", "plot_sweep", "FORMATS", "figure_data"]

#: The formats a notebook gets of each figure (``"png"``, and ``"svg"`` where wanted).
FORMATS: list[str] = ["png"]


def figure_data(fig: Any, fmt: str = "png", dpi: int = 100) -> Any:
    """A figure rendered: PNG bytes, or SVG text (no pyplot, no backend)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
    return buf.getvalue() if fmt == "png" else buf.getvalue().decode("utf-8")


_figure_class = None


def _notebook_figure() -> Any:
    """``matplotlib.figure.Figure`` that a notebook displays as an image by itself."""
    global _figure_class
    if _figure_class is None:
        import base64

        from matplotlib.figure import Figure

        class NotebookFigure(Figure):
            """A Figure a notebook shows inline (``_repr_mimebundle_``), pyplot or not."""

            def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
                data = {
                    "text/plain": repr(self),
                    "image/png": base64.b64encode(figure_data(self, "png")).decode("ascii"),
                }
                if "svg" in FORMATS or (include is not None and "image/svg+xml" in include):
                    data["image/svg+xml"] = figure_data(self, "svg")
                return {k: v for k, v in data.items() if not exclude or k not in exclude}

        _figure_class = NotebookFigure
    return _figure_class


def subplots(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (6.4, 4.0), **kwargs: Any) -> Any:
    """``(figure, axes)`` like ``pyplot.subplots``, without pyplot; a notebook shows the figure."""
    fig = _notebook_figure()(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> None:
    """Save ``fig`` as PNG under a temporary name, then rename."""
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")


def _named(title: Any, history: Any) -> Any:
    from .datasets import TITLES

    dataset = history.config.get("dataset")
    return f"{title}\n{TITLES.get(dataset, dataset)}" if dataset else title


def plot_loss(history: Any, path: str | os.PathLike | None = None, title: str | None = None) -> Figure:
    """Loss per iteration (the book's figure 4-11); returns the figure.

    The title names the data set when ``history.config["dataset"]`` says it.
    """
    loss = np.asarray(history.loss, dtype=float)
    fig, ax = subplots(figsize=(6.4, 4.0))
    ax.plot(np.arange(1, loss.size + 1), loss, linewidth=0.6, color="tab:blue", label="mini-batch loss")
    if loss.size >= 50:
        w = max(loss.size // 100, 10)
        smooth = np.convolve(loss, np.ones(w) / w, mode="valid")
        ax.plot(np.arange(w, loss.size + 1), smooth, color="tab:orange", linewidth=1.5, label=f"mean of {w}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    finite = loss[np.isfinite(loss)]
    if finite.size:
        ax.set_ylim(0, max(float(np.percentile(finite, 99.5)) * 1.05, 1e-3))
    ax.set_title(title or _named("Training loss (figure 4-11)", history))
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_accuracy(history: Any, path: str | os.PathLike | None = None, title: str | None = None) -> Figure:
    """Train and test accuracy per epoch (the book's figure 4-12); returns the figure."""
    per_epoch = history.config.get("per_epoch") or 1
    epochs = [r["iteration"] / per_epoch for r in history.epochs]
    fig, ax = subplots(figsize=(6.4, 4.0))
    ax.plot(epochs, [r["train_acc"] for r in history.epochs], marker="o", label="train acc")
    if history.epochs and history.epochs[0].get("test_acc") is not None:
        ax.plot(epochs, [r["test_acc"] for r in history.epochs], marker="s", linestyle="--", label="test acc")
    ax.set_xlabel("epochs")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.0)
    ax.set_title(title or _named("Accuracy per epoch (figure 4-12)", history))
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_sweep(
    results: Any,
    path_curves: str | os.PathLike | None = None,
    path_final: str | os.PathLike | None = None,
    dataset: str | None = None,
) -> Any:
    """The learning-rate experiment's two figures; returns ``(curves, final)``.

    Args:
        results: ``[(lr, seed, history), ...]``, several seeds per rate.
        path_curves: PNG of the test accuracy per epoch, one line per rate (mean
            over seeds, their range shaded).
        path_final: PNG of the final test accuracy against the rate (log axis):
            each seed a point, the mean a line.
        dataset: a data-set name for the titles.
    """
    from .datasets import TITLES

    suffix = f"\n{TITLES.get(dataset, dataset)}" if dataset else ""
    rates = sorted({lr for lr, _, _ in results})
    curves = _sweep_curves(results, rates, suffix)
    final = _sweep_final(results, rates, suffix)
    if path_curves is not None:
        save_figure(curves, path_curves)
    if path_final is not None:
        save_figure(final, path_final)
    return curves, final


def _sweep_curves(results: Any, rates: Any, suffix: Any) -> Any:
    """Test accuracy per epoch, one line per rate: the mean over seeds with their range shaded."""
    curves, ax = subplots(figsize=(8.2, 4.2))
    for lr in rates:
        runs = [h for r, _, h in results if r == lr and h.epochs]
        if not runs:
            continue
        per_epoch = runs[0].config.get("per_epoch") or 1
        points = min(len(h.epochs) for h in runs)
        epochs = [r["iteration"] / per_epoch for r in runs[0].epochs[:points]]
        accs = np.array(
            [[r["test_acc"] if r["test_acc"] is not None else r["train_acc"] for r in h.epochs[:points]] for h in runs]
        )
        if _split(runs, accs):  # the seeds disagree (one diverged): each drawn, thin, no mean to mislead
            color = None
            for j, a in enumerate(accs):
                (line,) = ax.plot(
                    epochs,
                    a,
                    linewidth=0.9,
                    color=color,
                    label=f"lr {lr:g} (each seed: they disagree)" if j == 0 else None,
                )
                color = line.get_color()
            continue
        (line,) = ax.plot(epochs, accs.mean(axis=0), marker="o", markersize=3, label=f"lr {lr:g}")
        if len(runs) > 1:
            ax.fill_between(epochs, accs.min(axis=0), accs.max(axis=0), color=line.get_color(), alpha=0.2)
    ax.set_xlabel("epochs")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.0)
    ax.set_title("Test accuracy per learning rate (mean over seeds, range shaded)" + suffix, fontsize=10)
    if ax.get_legend_handles_labels()[0]:  # (none before the first evaluation)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0)  # outside the curves
    ax.grid(alpha=0.3)
    curves.tight_layout()
    return curves


def _sweep_final(results: Any, rates: Any, suffix: Any) -> Any:
    """Final test accuracy against the rate (log axis): each seed a point, the mean a line."""
    final, ax = subplots(figsize=(6.4, 4.2))
    # a log axis while matplotlib can tick it; rates out to 1e300 (a sweep looking for the edge) as
    # evenly spaced labels instead (its log ticks overflow)
    log_axis = all(1e-100 < lr < 1e100 for lr in rates)
    where = {lr: (lr if log_axis else i) for i, lr in enumerate(rates)}
    means = []
    for lr in rates:
        accs = [
            h.final.get("test_acc") if h.final.get("test_acc") is not None else h.final.get("train_acc", np.nan)
            for r, _, h in results
            if r == lr
        ]
        accs = [np.nan if a is None else a for a in accs]
        ax.scatter(
            [where[lr]] * len(accs),
            accs,
            color="tab:blue",
            alpha=0.6,
            s=18,
            label="each seed" if lr == rates[0] else None,
        )
        means.append(np.nanmean(accs) if np.isfinite(accs).any() else np.nan)
    means = [m if np.isfinite(m) else np.nan for m in means]
    ax.plot([where[lr] for lr in rates], means, color="tab:orange", marker="s", label="mean over seeds")
    if log_axis:
        ax.set_xscale("log")
        if rates:  # limits from the rates, not the data (before any evaluation there is none to scale by)
            ax.set_xlim(min(rates) / 2, max(rates) * 2)
    else:
        ax.set_xticks(range(len(rates)), [f"{lr:g}" for lr in rates])
        ax.set_xlim(-0.5, len(rates) - 0.5)
    ax.set_xlabel("learning rate")
    ax.set_ylabel("final test accuracy")
    ax.set_ylim(0, 1.0)
    ax.set_title("Final test accuracy against the learning rate" + suffix)
    ax.legend(loc="lower left")
    ax.grid(alpha=0.3, which="both")
    final.tight_layout()
    return final


def _split(runs: Any, accs: Array) -> Any:
    """Whether a rate's seeds end far apart (some stopped, or final accuracies more than 0.2 apart):
    a mean with a band would then draw a curve no seed followed."""
    if len(runs) < 2:
        return False
    return any(h.stopped for h in runs) or float(np.ptp(accs[:, -1])) > 0.2
