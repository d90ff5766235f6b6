"""Checkpoints: a stopped run, continued to the bit.

``fit(..., checkpoint=path)`` writes one file at each evaluation and when the run stops: the
parameters, the history, the run's plan and where the mini-batch stream stands, all of the same
update, in one ``.npz`` written under a temporary name and renamed. A kill at any moment leaves
the previous checkpoint or the new one, never half of one. ``xpnet.resume`` reads it back
(:func:`load`), checks that it is given the same data (:func:`fingerprint`), and continues the
run; it ends where the uninterrupted run would have ended, with the same parameters and the
same history (timings aside).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
from typing import Any

import array_api_compat
import numpy as np

from . import paramfile, signals
from ._io import json_text
from .backend import to_numpy
from .history import History
from .nets import TwoLayerNet, file_meta

__all__ = [
    "Checkpoint",
    "Keeper",
    "Loaded",
    "as_checkpoint",
    "fingerprint",
    "fingerprints",
    "same_data",
    "save",
    "load",
]

FORMAT = "xpnet.Checkpoint/1"
_STATE_BYTES = 16 * 2**20  # the JSON state (history without its losses): far more than any run needs


class CheckpointWarning(UserWarning):
    """A checkpoint could not be written (a full disk, a folder gone); the run goes on."""


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """Where ``fit`` keeps a run's checkpoint, and what the caller keeps with it (``info``: JSON
    values, such as the command line's data set name)."""

    path: str
    info: dict = dataclasses.field(default_factory=dict)


def as_checkpoint(value: Any) -> Checkpoint | None:
    """``fit``'s ``checkpoint`` argument checked: None, a path, or a :class:`Checkpoint`."""
    if value is None or isinstance(value, Checkpoint):
        return value
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ValueError(f"checkpoint {path!r}: its folder {folder} does not exist; make it first")
        return Checkpoint(path)
    raise TypeError(f"checkpoint must be a file path (such as 'run/checkpoint.npz') or None, got {value!r}")


def fingerprint(x: Any, labels: Any) -> str:
    """A short digest of a data set: its shape, dtype, every label and 64 rows spread over the
    images. Resuming on other data is refused; hashing all of MNIST each time would cost a second."""
    n = int(x.shape[0])
    rows = sorted({(i * (n - 1)) // 63 for i in range(64)}) if n else []
    xp = array_api_compat.array_namespace(x)
    sample = to_numpy(xp.take(x, xp.asarray(rows, device=array_api_compat.device(x)), axis=0) if rows else x)
    digest = hashlib.sha256(f"{tuple(x.shape)} {sample.dtype}".encode())
    digest.update(np.ascontiguousarray(sample).tobytes())
    digest.update(np.ascontiguousarray(to_numpy(labels), dtype=np.int64).tobytes())
    return digest.hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class Keeper:
    """What ``fit`` hands the run loop for checkpoints: where, the run's settings (``run``: plan,
    seed, lr, data fingerprints), and for a continued run the stream position it starts from."""

    ck: Checkpoint
    run: dict
    start: dict | None = None

    def bind(self, net: Any, history: History, indices: Any, threads: Any) -> Any:
        """The run loop's ``on_point``: write the checkpoint of ``net`` and ``history`` as they are
        (``threads()``: the BLAS threads the run uses now, kept so that a continued run uses them too)."""
        failed: list[OSError] = []

        def write() -> None:
            run = {**self.run, "plan": {**self.run["plan"], "blas_threads": threads()}}
            try:
                save(self.ck, net, history, run, indices.position(history.iterations))
            except OSError as exc:  # a full disk: the run goes on (its results are in memory), said once
                if not failed:
                    warnings.warn(
                        f"the checkpoint {self.ck.path} could not be written ({exc.strerror or exc}); the run goes "
                        f"on, trying again at each evaluation",
                        CheckpointWarning,
                        stacklevel=2,
                    )
                failed.append(exc)

        return write


def fingerprints(data: Any) -> dict:
    """The fingerprints of a run's data (a ``runloop.Prepared``): ``{"train": ..., "test": ... or None}``."""
    test = None if data.test is None else fingerprint(*data.test)
    return {"train": fingerprint(data.x, data.labels), "test": test}


def same_data(path: str, saved: dict, data: Any) -> None:
    """ValueError unless ``data`` (a ``runloop.Prepared``) is the data the checkpointed run was given."""
    now = fingerprints(data)
    if now["train"] != saved["train"]:
        raise ValueError(f"x_train, t_train are not the data the run in {path} was trained on; pass the same arrays")
    test = now["test"]
    if test != saved["test"]:
        what = "was evaluated on a test set: pass x_test, t_test" if test is None else "used other test data"
        raise ValueError(f"the run in {path} {what} (the same arrays as before)")


def save(ck: Checkpoint, net: Any, history: History, run: dict, stream: dict) -> None:
    """Write ``net``, ``history``, the run's settings (``run``: plan, seed, lr, data fingerprints)
    and the stream position of the next update (``stream``) to ``ck.path``, atomically."""
    state = {"history": {**history.to_dict(), "loss": []}, "run": run, "stream": stream, "info": ck.info}
    with signals.held():  # a Ctrl-C now comes when the file is whole
        _write(ck, net, history, state)


def _write(ck: Checkpoint, net: Any, history: History, state: dict) -> None:
    paramfile.write(
        ck.path,
        file_meta(net),
        {k: to_numpy(v) for k, v in net.params.items()},
        extra={"state": np.asarray(json_text(state, indent=None)), "loss": np.asarray(history.loss, np.float64)},
        form=FORMAT,
    )


@dataclasses.dataclass
class Loaded:
    """A checkpoint read back: the net (on the backend asked for), its history, the run's
    settings, the stream position and the caller's ``info``."""

    net: TwoLayerNet
    history: History
    run: dict
    stream: dict
    info: dict


def load(path: Any, backend: str | None = None) -> Loaded:
    """Read a checkpoint written by ``fit(..., checkpoint=...)``; ValueError for anything else
    (the file's fields are checked as ``TwoLayerNet.load`` checks a parameter file)."""
    path = os.fspath(path)
    limits = {"state": _STATE_BYTES, "loss": 8 * 10**9}
    meta, arrays = paramfile.read(path, extra=limits, form=FORMAT, written_by="fit(..., checkpoint=...)")
    try:
        state = json.loads(str(arrays.pop("state")))
        loss = arrays.pop("loss")
        history = History.from_dict({**state["history"], "loss": loss.astype(np.float64).tolist()})
        run, stream, info = dict(state["run"]), dict(state["stream"]), dict(state.get("info") or {})
        missing = [key for key in ("plan", "seed", "lr", "data") if key not in run]
        if missing:
            raise KeyError(", ".join(missing))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: a damaged xpnet checkpoint ({type(exc).__name__}: {exc})") from None
    expected = history.iterations + (history.nonfinite_iteration is not None)  # and the loss that went wrong
    if loss.ndim != 1 or loss.shape[0] != expected:
        raise ValueError(f"{path}: a damaged xpnet checkpoint ({loss.shape} losses for {history.iterations} updates)")
    return Loaded(TwoLayerNet.from_file(meta, arrays, backend), history, run, stream, info)
