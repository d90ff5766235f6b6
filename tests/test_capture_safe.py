"""Every step, evaluation and numerical-gradient path is capture-safe: no boolean masks, no host reads.

CuPy gets array-api-compat's *generic* functions (``common/_aliases.py``), some of which index
with boolean masks (``clip``: ``out[ia] = a[ia]``), a host sync that a CUDA graph capture
refuses. On NumPy compat calls NumPy's own functions instead, so an ordinary CPU test sees none
of it. Here compat's NumPy namespace is given the generic functions CuPy gets, and the arrays
are a NumPy subclass that raises on boolean-mask indexing and, inside :func:`guarded`, on any
read to the host (``bool``, ``float``, ``int``, ``item``, ``tolist``). The plain path runs
(``accelerated(False)``: what CuPy runs when its fused step declines, e.g. over 32 classes).
"""

from __future__ import annotations

import contextlib
import functools

import array_api_compat.common._aliases as generic
import array_api_compat.numpy as compat_numpy
import numpy as np
import pytest

from xpnet.backend import accelerated

_HOST_READS = {"on": False}


class HostRead(AssertionError):
    pass


class Guarded(np.ndarray):
    """An ndarray that refuses boolean masks always, and host reads while guarded."""

    def __getitem__(self, key):
        _no_mask(key)
        return super().__getitem__(key)

    def __setitem__(self, key, value):
        _no_mask(key)
        return super().__setitem__(key, value)

    def _read(self, how, *args):
        if _HOST_READS["on"]:
            raise HostRead(f"a host read ({how}) inside per-step math")
        return getattr(super(), how)(*args)

    def __bool__(self):
        return self._read("__bool__")

    def __float__(self):
        return self._read("__float__")

    def __int__(self):
        return self._read("__int__")

    def __index__(self):
        return self._read("__index__")

    def item(self, *args):
        return self._read("item", *args)

    def tolist(self):
        return self._read("tolist")


def _no_mask(key):
    keys = key if isinstance(key, tuple) else (key,)
    for k in keys:
        if isinstance(k, np.ndarray) and k.dtype == bool:
            raise HostRead("boolean-mask indexing (a data-dependent shape: a host sync on CuPy)")


def g(a):
    return np.asarray(a).view(Guarded)


@contextlib.contextmanager
def guarded():
    _HOST_READS["on"] = True
    try:
        yield
    finally:
        _HOST_READS["on"] = False


@pytest.fixture
def cupy_like(monkeypatch):
    """compat's NumPy namespace with the generic functions that compat gives CuPy."""
    for name in dir(compat_numpy):
        fn = getattr(compat_numpy, name)
        if name.startswith("_") or isinstance(fn, type) or not callable(fn):
            continue
        if callable(getattr(generic, name, None)) and name != "__array_namespace_info__":
            fn = functools.partial(getattr(generic, name), xp=np)  # what compat gives CuPy
        monkeypatch.setattr(compat_numpy, name, _guarding(fn))
    with accelerated(False):
        yield compat_numpy


def _guarding(fn):
    """``fn`` whose array results are :class:`Guarded` (so compat's own temporaries are too)."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        out = fn(*args, **kwargs)
        return g(out) if type(out) is np.ndarray else out

    return call


def test_the_guard_catches_compats_generic_clip(cupy_like):
    """The failure this file exists for: compat's clip, as CuPy gets it, indexes with masks."""
    with pytest.raises(HostRead, match="boolean-mask"):
        cupy_like.clip(g(np.array([np.inf, 1.0, -np.inf])), -1.0, 1.0)
    with guarded(), pytest.raises(HostRead, match="host read"):
        bool(g(np.array(True)))


def _net(classes, k=None, seed=0, d=20, h=8):
    rng = np.random.default_rng(seed)
    lead = () if k is None else (k,)
    return {
        "W1": g(0.1 * rng.standard_normal(lead + (d, h))),
        "b1": g(np.zeros(lead + (h,))),
        "W2": g(0.1 * rng.standard_normal(lead + (h, classes))),
        "b2": g(np.zeros(lead + (classes,))),
    }


def _data(classes, n=64, d=20, seed=1):
    rng = np.random.default_rng(seed)
    x = g(rng.standard_normal((n, d)))
    labels = rng.integers(0, classes, n)
    t = g(np.eye(classes)[labels])
    return x, t, g(labels), g(rng.integers(0, n, 16))


@pytest.mark.parametrize("classes", [10, 40])
def test_softmax_and_the_loss_are_capture_safe(cupy_like, classes):
    from xpnet.functions import cross_entropy, softmax_of

    x, t, _, _ = _data(classes)
    z = np.random.default_rng(3).standard_normal((64, classes)) * 30
    z[::7, 1], z[::5, 2] = np.inf, -np.inf
    z = g(z)
    with guarded():
        y = softmax_of(z)
        loss = cross_entropy(cupy_like, y, t)
    assert np.allclose(np.asarray(y).sum(axis=1), 1.0)
    assert np.isfinite(np.asarray(loss))


@pytest.mark.parametrize("classes", [10, 40])
def test_the_plain_step_is_capture_safe(cupy_like, classes):
    from xpnet.steps import sgd_step

    params = _net(classes)
    x, t, _, idx = _data(classes)
    before = np.asarray(params["W2"]).copy()
    with guarded():
        loss = sgd_step(params, x, t, idx, 0.1, xp=cupy_like)
    assert np.isfinite(np.asarray(loss)) and not np.array_equal(np.asarray(params["W2"]), before)


def test_k_stacked_steps_are_capture_safe(cupy_like):
    from xpnet.steps import stacked_step

    params = _net(40, k=3)
    x, t, _, _ = _data(40)
    idx = g(np.random.default_rng(2).integers(0, 64, (3, 16)))
    data = (x, t, g(np.array([0.1, 0.2, 0.3])), g(np.array([True, False, True])))
    with guarded():
        losses = stacked_step(params, data, idx, xp=cupy_like)
    assert np.asarray(losses).shape == (3,)


def test_the_numerical_step_is_capture_safe(cupy_like):
    from xpnet.steps import numerical_step

    params = _net(12, d=6, h=4)
    x, t, _, idx = _data(12, d=6)
    with guarded():
        loss = numerical_step(params, x, t, idx, 0.1, xp=cupy_like)
    assert np.isfinite(np.asarray(loss))


def test_evaluation_is_capture_safe(cupy_like):
    from xpnet.nets import correct_counts

    params = _net(40)
    x, _, labels, _ = _data(40)
    with guarded():
        count = correct_counts(params, x, labels, 16, xp=cupy_like)
    assert 0 <= int(np.asarray(count)) <= 64
