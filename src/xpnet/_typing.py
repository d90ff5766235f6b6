"""Type names for xpnet's public signatures.

Arrays come from any Array-API library (NumPy, CuPy, PyTorch, array-api-strict...), which
share no base class, so an array is typed as ``Array`` (``Any`` to a type checker).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: An array of any Array-API library.
Array = Any
#: An array, or what ``asarray`` accepts (nested lists, numbers).
ArrayLike = Any
#: A dtype given by name (``"float64"``), as a NumPy dtype, or as a namespace's dtype.
DTypeLike = Any
#: A scalar function of an array.
ScalarFunction = Callable[[Array], float | Array]
