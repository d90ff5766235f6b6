"""MNIST where Keras keeps it (``$KERAS_HOME/datasets/mnist.npz``): found, checked, read."""

from __future__ import annotations

import hashlib
import os
import pathlib

import numpy as np

from .._io import npz_arrays
from .idx import DatasetError

#: SHA-256 of Keras's ``mnist.npz`` as Keras publishes it.
KERAS_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"


def keras_mnist_path() -> pathlib.Path:
    """Where Keras keeps MNIST: ``$KERAS_HOME/datasets/mnist.npz`` (default ``~/.keras``)."""
    home = os.environ.get("KERAS_HOME", "").strip() or os.path.join(os.path.expanduser("~"), ".keras")
    return pathlib.Path(home) / "datasets" / "mnist.npz"


def load_keras_npz(path):
    """MNIST from Keras's ``mnist.npz``, checked: its published SHA-256, or else its structure
    (four uint8 arrays of the right shapes, labels 0-9)."""
    path = pathlib.Path(path)
    fix = (
        "delete it (Keras fetches it again) or set KERAS_HOME elsewhere; xpnet can also fetch MNIST: xpnet fetch mnist"
    )
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        data = npz_arrays(path, ("x_train", "y_train", "x_test", "y_test"), max_bytes=60_000 * 784 + 2**20)
        arrays = {
            "train_images": data["x_train"],
            "train_labels": data["y_train"],
            "test_images": data["x_test"],
            "test_labels": data["y_test"],
        }
    except (OSError, KeyError, ValueError, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable Keras MNIST file ({exc}); {fix}") from exc
    if digest != KERAS_MNIST_SHA256:
        want = {
            "train_images": (60000, 28, 28),
            "train_labels": (60000,),
            "test_images": (10000, 28, 28),
            "test_labels": (10000,),
        }
        for key, shape in want.items():
            a = arrays[key]
            if a.dtype != np.uint8 or a.shape != shape:
                raise DatasetError(f"{path}: {key} is {a.dtype} of shape {a.shape}, expected uint8 {shape}; {fix}")
        for key in ("train_labels", "test_labels"):
            if int(arrays[key].max()) > 9:
                raise DatasetError(f"{path}: {key} holds labels up to {int(arrays[key].max())}, expected 0-9; {fix}")
    return arrays
