"""array-api-compat's NumPy namespace, imported without NumPy's two heaviest lazy submodules.

array-api-compat 1.16 builds ``array_api_compat.numpy`` by cloning NumPy (``from numpy import
*`` and a ``getattr`` of every name ``dir(numpy)`` lists). NumPy 2 lists its lazy submodules
``f2py`` and ``testing`` there, so the clone imports them: 40-70 ms of every ``import xpnet``
(``python -X importtime -c "import xpnet"``), 3% of the book's whole ``train_neuralnet.py``.
Neither is part of the Array API. :func:`namespace` hides the two names from NumPy while the
clone is made and puts them back at once; they stay importable as ``numpy.f2py`` and
``numpy.testing`` (NumPy's lazy ``__getattr__`` is untouched). Where the namespace is imported
already, or NumPy lays itself out otherwise, it is the plain import.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy

#: NumPy's lazy submodules the clone need not import.
SKIPPED = ("f2py", "testing")


def namespace() -> Any:
    """``array_api_compat.numpy``, imported without :data:`SKIPPED` (see the module's text)."""
    if "array_api_compat.numpy" in sys.modules:
        return sys.modules["array_api_compat.numpy"]
    names, listing = getattr(numpy, "__all__", None), vars(numpy).get("__dir__")
    if not isinstance(names, list) or not callable(listing):
        import array_api_compat.numpy as xp

        return xp
    numpy.__all__ = [n for n in names if n not in SKIPPED]
    numpy.__dir__ = lambda: [n for n in listing() if n not in SKIPPED]  # type: ignore[method-assign]
    try:
        import array_api_compat.numpy as xp
    finally:
        numpy.__all__, numpy.__dir__ = names, listing  # type: ignore[method-assign]
    return xp
