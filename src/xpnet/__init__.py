"""xpnet: the training chapter of *Deep Learning from Scratch*, on the Array API.

The same code runs on NumPy (CPU), CuPy (NVIDIA GPU), JAX, PyTorch and
array-api-strict; the backend that makes new arrays is chosen by
``XPNET_BACKEND`` (or :func:`set_backend`), and every function takes its
namespace from its inputs.
"""

from typing import Any

from .backend import (
    BACKENDS,
    BackendError,
    asarray,
    backend_available,
    device_name,
    get_backend,
    get_namespace,
    namespace,
    set_backend,
    to_numpy,
    use_backend,
)
from .functions import (
    DELTA,
    cross_entropy_error,
    mean_squared_error,
    relu,
    sigmoid,
    sigmoid_grad,
    softmax,
    sum_squared_error,
    sum_squares_error,
    to_one_hot,
)
from .gradient import NonFiniteError, gradient_descent, numerical_diff, numerical_gradient, numerical_gradient_batched
from .nets import SimpleNet, TwoLayerNet
from .random import Rng

__version__: str  # set on first use (see __getattr__)


def _version() -> str:
    """The installed distribution's version (pyproject.toml is the one place it is written)."""
    from importlib import metadata

    try:
        return metadata.version("xpnet")
    except metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
        import pathlib
        import re

        pyproject = pathlib.Path(__file__).resolve().parents[2] / "pyproject.toml"
        try:
            found = re.search(r'^version = "([^"]+)"', pyproject.read_text(), re.M)
        except OSError:
            found = None
        return found.group(1) if found else "0+unknown"


_LAZY = {
    "load_mnist": "datasets",
    "load_fashion_mnist": "datasets",
    "load_digits": "datasets",
    "DatasetError": "datasets",
    "fit": "train",
    "resume": "train",
    "History": "train",
    "fit_many": "sweep",
    "resume_many": "sweep",
    "gradient_check": "gradcheck",
    "plot_loss": "plots",
    "plot_accuracy": "plots",
    "prepare_digit": "predict",
    "classify": "predict",
    "classify_files": "predict",
    "load_run": "predict",
}


def _load(module: str) -> Any:
    """One of xpnet's heavier submodules, imported on first use (explicit imports, no importlib)."""
    if module == "datasets":
        from . import datasets

        return datasets
    elif module == "train":
        from . import train

        return train
    elif module == "sweep":
        from . import sweep

        return sweep
    elif module == "gradcheck":
        from . import gradcheck

        return gradcheck
    elif module == "plots":
        from . import plots

        return plots
    elif module == "book":
        from . import book

        return book
    elif module == "predict":
        from . import predict

        return predict
    elif module == "cli":
        from . import cli

        return cli
    elif module == "incremental_numgrad":
        from . import incremental_numgrad

        return incremental_numgrad
    raise AttributeError(f"module 'xpnet' has no attribute {module!r}")


def __getattr__(name: str) -> Any:  # keep ``import xpnet`` light: data, training and the version load on use
    if name == "__version__":
        global __version__
        __version__ = _version()  # importlib.metadata costs 25 ms: only when asked
        return __version__
    if name in _LAZY:
        return getattr(_load(_LAZY[name]), name)
    if name in _LOADING:  # ``from . import x`` asks ``hasattr(xpnet, x)`` first: say no, so it imports
        raise AttributeError(name)
    _LOADING.add(name)
    try:
        return _load(name)
    finally:
        _LOADING.discard(name)


_LOADING: set[str] = set()


def __dir__() -> list[str]:
    """Everything public, the lazy names included, so IPython and Jupyter can complete them."""
    return sorted(set(globals()) | set(__all__) | {"__version__"})


__all__ = [
    "BACKENDS",
    "BackendError",
    "asarray",
    "backend_available",
    "device_name",
    "get_backend",
    "get_namespace",
    "namespace",
    "set_backend",
    "to_numpy",
    "use_backend",
    "DELTA",
    "cross_entropy_error",
    "mean_squared_error",
    "relu",
    "sigmoid",
    "sigmoid_grad",
    "softmax",
    "sum_squares_error",
    "sum_squared_error",
    "to_one_hot",
    "NonFiniteError",
    "gradient_descent",
    "numerical_diff",
    "numerical_gradient",
    "numerical_gradient_batched",
    "SimpleNet",
    "TwoLayerNet",
    "Rng",
    "load_mnist",
    "load_fashion_mnist",
    "load_digits",
    "DatasetError",
    "fit",
    "resume",
    "fit_many",
    "resume_many",
    "History",
    "gradient_check",
    "plot_loss",
    "plot_accuracy",
    "prepare_digit",
    "classify",
    "classify_files",
    "load_run",
]
