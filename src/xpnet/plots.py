"""The chapter's figures, drawn headless with matplotlib (Agg) into PNG files."""

from __future__ import annotations

import numpy as np

from ._io import atomic_path


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path, dpi=100):
    """Save ``fig`` as PNG under a temporary name, then rename; close it."""
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        _plt().close(fig)


def plot_loss(history, path, title=None):
    """Loss per iteration (the book's figure 4-11)."""
    plt = _plt()
    loss = np.asarray(history.loss, dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(np.arange(1, loss.size + 1), loss, linewidth=0.6, color="tab:blue", label="mini-batch loss")
    if loss.size >= 50:
        w = max(loss.size // 100, 10)
        smooth = np.convolve(np.nan_to_num(loss, nan=np.nan), np.ones(w) / w, mode="valid")
        ax.plot(np.arange(w, loss.size + 1), smooth, color="tab:orange", linewidth=1.5, label=f"mean of {w}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    finite = loss[np.isfinite(loss)]
    if finite.size:
        ax.set_ylim(0, max(float(np.percentile(finite, 99.5)) * 1.05, 1e-3))
    ax.set_title(title or "Training loss (figure 4-11)")
    ax.legend(loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def plot_accuracy(history, path, title=None):
    """Train and test accuracy per epoch (the book's figure 4-12)."""
    plt = _plt()
    per_epoch = history.config.get("per_epoch") or 1
    epochs = [r["iteration"] / per_epoch for r in history.epochs]
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(epochs, [r["train_acc"] for r in history.epochs], marker="o", label="train acc")
    if history.epochs and history.epochs[0].get("test_acc") is not None:
        ax.plot(epochs, [r["test_acc"] for r in history.epochs], marker="s", linestyle="--", label="test acc")
    ax.set_xlabel("epochs")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.0)
    ax.set_title(title or "Accuracy per epoch (figure 4-12)")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)
