"""xpnet: the training chapter of *Deep Learning from Scratch*, on the Array API.

The same code runs on NumPy (CPU) and CuPy (NVIDIA GPU); the backend that
makes new arrays is chosen by ``XPNET_BACKEND`` (or :func:`set_backend`).
"""

from .backend import (BACKENDS, BackendError, asarray, backend_available, device_name,
                      get_backend, get_namespace, namespace, set_backend, to_numpy, use_backend)
from .functions import (DELTA, cross_entropy_error, mean_squared_error, relu, sigmoid,
                        sigmoid_grad, softmax, sum_squared_error, sum_squares_error, to_one_hot)
from .gradient import (NonFiniteError, gradient_descent, numerical_diff, numerical_gradient,
                       numerical_gradient_batched)
from .nets import SimpleNet, TwoLayerNet
from .random import Rng

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


_SUBMODULES = ("accel", "backend", "book", "cli", "datasets", "functions", "gradcheck", "gradient", "nets",
               "incremental_numgrad", "plots", "random", "sweep", "train")


def __getattr__(name):  # keep ``import xpnet`` light: data, training and the version load on use
    if name == "__version__":
        global __version__
        __version__ = _version()  # importlib.metadata costs 25 ms: only when asked
        return __version__
    if name in ("load_mnist", "load_fashion_mnist", "load_digits", "DatasetError"):
        from . import datasets
        return getattr(datasets, name)
    if name in ("fit", "History"):
        from . import train
        return getattr(train, name)
    if name == "fit_many":
        from .sweep import fit_many
        return fit_many
    if name == "gradient_check":
        from .gradcheck import gradient_check
        return gradient_check
    if name in ("plot_loss", "plot_accuracy"):
        from . import plots
        return getattr(plots, name)
    if name in _SUBMODULES:
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'xpnet' has no attribute {name!r}")


__all__ = [
    "BACKENDS", "BackendError", "asarray", "backend_available", "device_name", "get_backend",
    "get_namespace", "namespace", "set_backend", "to_numpy", "use_backend",
    "DELTA", "cross_entropy_error", "mean_squared_error", "relu", "sigmoid", "sigmoid_grad",
    "softmax", "sum_squares_error", "sum_squared_error", "to_one_hot",
    "NonFiniteError", "gradient_descent", "numerical_diff", "numerical_gradient",
    "numerical_gradient_batched", "SimpleNet", "TwoLayerNet", "Rng",
    "load_mnist", "load_fashion_mnist", "load_digits", "DatasetError", "fit", "fit_many", "History",
    "gradient_check", "plot_loss", "plot_accuracy",
]
