"""Plots use matplotlib's object interface: the user's backend and pyplot stay as they were."""

import subprocess
import sys

from xpnet.train import History

CODE = r"""
import sys, matplotlib
matplotlib.use("svg")
from xpnet.plots import plot_accuracy, plot_loss
from xpnet.train import History
from matplotlib.figure import Figure
h = History(loss=[2.3 - i / 100 for i in range(120)], config={"per_epoch": 10, "dataset": "mnist-t10k"},
            epochs=[{"iteration": i, "train_acc": i / 200, "test_acc": i / 250} for i in (1, 60, 120)])
figs = [plot_loss(h, sys.argv[1] + "/loss.png"), plot_accuracy(h, sys.argv[1] + "/acc.png"), plot_loss(h)]
assert all(isinstance(f, Figure) for f in figs)
print(matplotlib.get_backend(), "matplotlib.pyplot" in sys.modules, repr(figs[0].axes[0].get_title()))
"""


def test_plotting_leaves_the_backend_and_pyplot_alone(tmp_path):
    run = subprocess.run([sys.executable, "-c", CODE, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    backend, pyplot_loaded, title = run.stdout.split(" ", 2)
    assert backend == "svg" and pyplot_loaded == "False"
    assert title.strip() == repr("Training loss (figure 4-11)\nMNIST test digits (8,000 train / 2,000 test)")
    for name in ("loss.png", "acc.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["acc.png", "loss.png"]


def test_figures_come_back_for_notebooks():
    from xpnet.plots import plot_accuracy

    h = History(config={"per_epoch": 1}, epochs=[{"iteration": 1, "train_acc": 0.5, "test_acc": None}])
    fig = plot_accuracy(h)
    ax = fig.axes[0]
    assert ax.get_title() == "Accuracy per epoch (figure 4-12)" and len(ax.lines) == 1
    bundle = fig._repr_mimebundle_()
    import base64

    assert base64.b64decode(bundle["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"  # a notebook shows it as it is
    assert "image/svg+xml" not in bundle  # PNG only, unless asked
    assert bundle["text/plain"].startswith("<")
    svg = fig._repr_mimebundle_(include={"image/svg+xml", "image/png"})
    assert svg["image/svg+xml"].lstrip().startswith("<?xml") and "<svg" in svg["image/svg+xml"]


def test_sweep_figures_read_well():
    """The legend sits outside the curves; a rate whose seeds disagree is drawn seed by seed (no mean
    with a band); the per-seed points have a legend entry."""
    from xpnet.plots import plot_sweep

    def h(accs, stopped=None):
        return History(
            config={"per_epoch": 1},
            stopped=stopped,
            epochs=[{"iteration": i + 1, "train_acc": a, "test_acc": a} for i, a in enumerate(accs)],
        )

    results = [(0.1, s, h([0.5, 0.8, 0.9])) for s in range(3)]
    results += [(10.0, 0, h([0.5, 0.9, 0.93])), (10.0, 1, h([0.5, 0.9, 0.94])), (10.0, 2, h([0.3, 0.1, 0.1]))]
    curves, final = plot_sweep(results)
    ax = curves.axes[0]
    legend = ax.get_legend()
    assert legend.get_bbox_to_anchor().x0 >= ax.get_window_extent().x1 - 1  # anchored right of the axes
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels == ["lr 0.1", "lr 10 (each seed: they disagree)"]
    assert len(ax.lines) == 1 + 3 and len(ax.collections) == 1  # one mean + three thin seeds; one band (lr 0.1)
    final_labels = [t.get_text() for t in final.axes[0].get_legend().get_texts()]
    assert "each seed" in final_labels and "mean over seeds" in final_labels
