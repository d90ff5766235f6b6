"""Issue 9, item 4: one function checks targets, so every entry point rejects the same inputs
with the same message (cross_entropy_error, mean_squared_error, each TwoLayerNet method, fit)."""

import re

import numpy as np
import pytest

import xpnet
from xpnet import TwoLayerNet, cross_entropy_error, mean_squared_error
from xpnet.train import fit

N, D, C = 6, 4, 3


def _setup():
    rng = np.random.default_rng(0)
    x = rng.random((N, D))
    net = TwoLayerNet(D, 5, C, seed=0)
    return net, x, net.predict(x)


BAD = {
    "label equal to the number of classes": np.array([0, 1, 2, 7, 1, 0]),
    "negative label": np.array([0, -1, 2, 1, 1, 0]),
    "float labels": np.array([0.0, 0.9, 2.0, 1.0, 1.0, 0.0]),
    "NaN labels": np.array([0.0, np.nan, 2.0, 1.0, 1.0, 0.0]),
    "one column of labels (N, 1)": np.array([[0], [1], [2], [1], [1], [0]]),
    "too few labels": np.array([0, 1, 2]),
    "one-hot of the wrong width": np.eye(C + 1)[[0, 1, 2, 1, 1, 0]],
    "one-hot with too few rows": np.eye(C)[[0, 1, 2]],
    "bool labels": np.array([True, False, True, True, False, True]),
}


def _messages(t):
    net, x, y = _setup()
    calls = {
        "cross_entropy_error": lambda: cross_entropy_error(y, t),
        "mean_squared_error": lambda: mean_squared_error(y, t),
        "TwoLayerNet.loss": lambda: net.loss(x, t),
        "TwoLayerNet.accuracy": lambda: net.accuracy(x, t),
        "TwoLayerNet.gradient": lambda: net.gradient(x, t),
        "TwoLayerNet.numerical_gradient": lambda: net.numerical_gradient(x, t),
        "fit": lambda: fit(net, x, t, iters=1, batch_size=2, progress=False),
    }
    out = {}
    for name, call in calls.items():
        with pytest.raises(ValueError) as info:
            call()
        out[name] = str(info.value)
    return out


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_entry_point_rejects_the_same_targets_alike(case):
    messages = _messages(BAD[case])
    # fit names its argument t_train; apart from that, one message
    normalised = {k: v.replace("t_train", "t") for k, v in messages.items()}
    assert len(set(normalised.values())) == 1, messages
    text = next(iter(normalised.values()))
    assert re.match(r"t (holds labels from|must be|holds float labels .*convert them to integers)", text), text


def test_the_message_says_what_is_wanted():
    text = _messages(BAD["one column of labels (N, 1)"])["TwoLayerNet.accuracy"]
    assert f"one-hot of shape ({N}, {C})" in text and f"integer labels of shape ({N},)" in text
    assert "got t of shape (6, 1)" in text
    text = _messages(BAD["label equal to the number of classes"])["fit"]
    assert text == "t_train holds labels from 0 to 7, but there are 3 classes: labels must lie in [0, 2]"


def test_fit_with_a_column_of_labels_no_longer_trains_on_class_0():
    """The issue's case: t of shape (N, 1) trained silently on class 0; now it is refused."""
    net, x, _ = _setup()
    with pytest.raises(ValueError, match=r"t_train must be one-hot of shape \(6, 3\)"):
        fit(net, x, np.zeros((N, 1), dtype=np.int64), iters=1, batch_size=2, progress=False)


def test_accuracy_rejects_a_bad_batch_size():
    net, x, _ = _setup()
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        net.accuracy(x, np.zeros(N, dtype=np.int64), batch_size=-1)


def test_good_targets_in_every_form_agree(backend):
    net = TwoLayerNet(D, 5, C, seed=0, weight_init_std=1.0)
    rng = np.random.default_rng(1)
    x = xpnet.asarray(rng.random((N, D)), backend=backend)
    labels = rng.integers(0, C, N)
    forms = [
        xpnet.asarray(labels, backend=backend),
        xpnet.asarray(labels.astype(np.int32), backend=backend),
        xpnet.asarray(np.eye(C)[labels], backend=backend),
        xpnet.asarray(np.eye(C, dtype=np.int64)[labels], backend=backend),
    ]
    losses = [float(net.loss(x, t)) for t in forms]
    accs = [net.accuracy(x, t) for t in forms]
    grads = [xpnet.to_numpy(net.gradient(x, t)["W1"]) for t in forms]
    assert max(losses) - min(losses) < 1e-15 and len(set(accs)) == 1
    for g in grads[1:]:
        np.testing.assert_allclose(g, grads[0], rtol=1e-14, atol=1e-17)
