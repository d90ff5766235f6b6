"""``xpnet info``: what a bug report needs: versions, backends, devices, BLAS and its threads.

Each backend package describes its own library (``describe()``); this module names none.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata

from .. import __version__
from ..backend import BACKENDS, DEVICE_ENV_VAR, ENV_VAR, backend_available, get_backend
from ..backend.registry import get
from ..datasets import BUNDLED_DIR, MNIST, DatasetError, data_dir, fetch, keras_mnist_path


def run(args, prog):
    for line in info_lines():
        print(line)
    return 0


def _version(dist):
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def info_lines():
    import xpnet

    lines = [
        f"xpnet {__version__} ({os.path.dirname(xpnet.__file__)})",
        f"python {platform.python_version()} ({platform.python_implementation()}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores)",
        f"array-api-compat {_version('array-api-compat')}",
    ]
    usable = [b for b in BACKENDS if _usable(backend_available, b)]
    for name in BACKENDS:  # each package describes its library (or says how to get it)
        lines += _described(name)
    lines.append(f"backends usable here: {', '.join(usable)}")
    try:
        active = get_backend()
    except ValueError as exc:
        active = f"none ({exc})"
    lines.append(
        f"active backend: {active} ({ENV_VAR}={os.environ.get(ENV_VAR, '') or '(unset)'}, "
        f"{DEVICE_ENV_VAR}={os.environ.get(DEVICE_ENV_VAR, '') or '(unset)'})"
    )
    lines.append(
        f"data folder: {data_dir()} (XPNET_DATA_DIR); bundled MNIST test digits: "
        f"{'present' if (BUNDLED_DIR / 't10k-images-idx3-ubyte.gz').is_file() else 'missing'}; "
        f"Keras mnist.npz: {'found' if keras_mnist_path().is_file() else 'not found'}"
    )
    lines.append(f"MNIST's training set: {_mnist_state()}")
    return lines


def _mnist_state():
    """Whether ``xpnet train`` finds the full MNIST here (no download), and if not, why."""
    try:
        fetch(MNIST, download=False)
    except DatasetError as exc:
        return f"not available ({str(exc).split('. To fix:')[0]}); xpnet fetch mnist gets it"
    return "available"


def _described(name):
    try:
        return get(name).describe()
    except Exception as exc:  # a broken install of an optional library must not break the report
        return [f"{name}: error while describing it: {type(exc).__name__}: {exc}"]


def _usable(check, name):
    try:
        return check(name)
    except Exception:  # a broken install of an optional library must not break the report
        return False
