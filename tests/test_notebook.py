"""xpnet in a real Jupyter kernel (issue 19): figures inline with no magic and no pyplot, History's
notebook view, progress bars, live curves. The cells run in a fresh ipykernel through nbclient."""

import base64
import os

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook tests need nbclient: pip install '.[notebook]'")
nbclient = pytest.importorskip("nbclient", reason="the notebook tests need nbclient: pip install '.[notebook]'")
pytest.importorskip("ipykernel", reason="the notebook tests need ipykernel: pip install '.[notebook]'")

SETUP = """\
import sys, numpy as np, xpnet
from xpnet.datasets import load_mnist_t10k
(x, t), (xt, tt) = load_mnist_t10k(dtype="float64", backend="numpy")
"""

CELLS = {
    "setup": SETUP,
    "last_value": "net = xpnet.TwoLayerNet(784, 20, 10, seed=0)\n"
    "history = xpnet.fit(net, x, t, xt, tt, iters=240, seed=0, progress=False)\n"
    "xpnet.plot_loss(history)",
    "display": "from IPython.display import display\nfig = xpnet.plot_accuracy(history)\ndisplay(fig)",
    "assigned": "fig = xpnet.plot_accuracy(history); fig",
    "history": "history",
    "pyplot": "print('pyplot' in ' '.join(sys.modules))",
    "progress": "h2 = xpnet.fit(xpnet.TwoLayerNet(784, 20, 10, seed=1), x, t, iters=160, seed=0,\n"
    "              callbacks=[lambda r, h: print('epoch line', r['iteration'])])",
    "text_progress": "import xpnet._progress as _p\n_p._widgets = lambda: False  # as without ipywidgets\n"
    "h4 = xpnet.fit(xpnet.TwoLayerNet(784, 20, 10, seed=1), x, t, iters=160, seed=0)\n"
    "_p._widgets = lambda: True",
    "live": "h3 = xpnet.fit(xpnet.TwoLayerNet(784, 20, 10, seed=2), x, t, xt, tt, iters=400, eval_every=50, seed=0,\n"
    "               progress=False, live=True)",
    "live_many": "hs = xpnet.fit_many([xpnet.TwoLayerNet(784, 20, 10, seed=s) for s in range(2)], x, t, xt, tt,\n"
    "                    lr=[0.1, 1.0], seed=[0, 1], iters=240, eval_every=40, progress=False, live=True)",
    "live_final": "import base64\nfrom xpnet.plots import figure_data\n"
    "print(len(h3.epochs), figure_data(xpnet.plot_loss(h3))[:8] == b'\\x89PNG\\r\\n\\x1a\\n')",
}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS.values()]
    env_backend = os.environ.pop("XPNET_BACKEND", None)
    try:
        nbclient.NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path_factory.mktemp("nb"))}}
        ).execute()
    finally:
        if env_backend is not None:
            os.environ["XPNET_BACKEND"] = env_backend
    return dict(zip(CELLS, (cell.outputs for cell in nb.cells)))


def _images(outs):
    return [o for o in outs if o.get("output_type") in ("execute_result", "display_data") and "image/png" in o["data"]]


def _png(o):
    return base64.b64decode(o["data"]["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_figure_as_the_last_value_shows_inline(outputs):
    images = _images(outputs["last_value"])
    assert len(images) == 1 and images[0]["output_type"] == "execute_result" and _png(images[0])


def test_display_and_an_assigned_figure_show_inline(outputs):
    for cell in ("display", "assigned"):
        images = _images(outputs[cell])
        assert len(images) == 1 and _png(images[0]), cell


def test_no_pyplot_and_no_magic(outputs):
    assert [o.get("text", "").strip() for o in outputs["pyplot"] if o["output_type"] == "stream"] == ["False"]


def test_history_reads_well_in_a_notebook(outputs):
    (result,) = [o for o in outputs["history"] if o["output_type"] == "execute_result"]
    text = result["data"]["text/plain"]
    assert text.startswith("History(240 iterations, lr 0.1, train acc ") and "finished" in text and len(text) < 200
    html = result["data"]["text/html"]
    assert "<table>" in html and html.count("data:image/png;base64,") == 2 and "test acc" in html


def test_progress_shows_by_default_without_a_warning(outputs):
    outs = outputs["progress"]
    stderr = "".join(o.get("text", "") for o in outs if o.get("name") == "stderr")
    assert "IProgress" not in stderr and "Warning" not in stderr
    widgets = [o for o in outs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    text_bar = "160/160" in stderr
    assert widgets or text_bar  # a widget where ipywidgets is installed, text otherwise
    stdout = "".join(o.get("text", "") for o in outs if o.get("name") == "stdout")
    assert stdout.count("epoch line") == 3  # the epoch lines are seen (iterations 1, 81, 160)


def test_live_curves_end_as_plot_loss_and_plot_accuracy(outputs):
    images = _images(outputs["live"])
    assert len(images) == 2 and all(_png(o) for o in images)  # the two figures, updated in place
    assert all(o.get("metadata") is not None for o in images)
    done = [o.get("text", "").strip() for o in outputs["live_final"] if o.get("name") == "stdout"]
    assert done == ["9 True"]


def test_live_sweep_draws_its_accuracy_figure(outputs):
    images = _images(outputs["live_many"])
    assert len(images) == 1 and _png(images[0])
    stderr = "".join(o.get("text", "") for o in outputs["live_many"] if o.get("name") == "stderr")
    assert "Warning" not in stderr and "Traceback" not in stderr, stderr  # the first, empty frame too


def test_live_outside_a_notebook_is_a_clear_error():
    import numpy as np

    import xpnet

    with pytest.raises(ValueError, match="live=True draws the curves in a Jupyter notebook"):
        xpnet.fit(
            xpnet.TwoLayerNet(4, 3, 2), np.ones((10, 4)), np.zeros(10, dtype=int), iters=2, batch_size=5, live=True
        )


def test_without_widgets_progress_is_one_line_updated_in_place(outputs):
    """Not tqdm's text bar on stderr (a pile of pink lines in JupyterLab): one display, updated."""
    outs = outputs["text_progress"]
    assert [o for o in outs if o.get("output_type") == "stream"] == []  # no stderr, no stdout noise
    (line,) = [o for o in outs if o.get("output_type") == "display_data"]
    text = line["data"]["text/plain"]
    assert text.startswith("100%|") and "160/160" in text and "it/s" in text and "loss=" in text, text
    assert "\n" not in text.strip()
