"""The one random-number wrapper (the Array API standard has none).

Numbers are drawn on the host and then placed on the backend, so one seed
gives bit-identical values on every backend: from
``numpy.random.default_rng(seed)`` for a seed, and from NumPy's global
random state for ``seed=None``, as the book's ``np.random.randn`` and
``np.random.choice`` do (so ``np.random.seed(0)`` reproduces a reader's run).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import asarray, dtype_name


class Rng:
    """Seeded random numbers, drawn on the host, placed on a backend.

    Args:
        seed: anything ``numpy.random.default_rng`` accepts; None draws from
            NumPy's global random state (``np.random.seed``), as the book does.
    """

    def __init__(self, seed: Any = None) -> None:
        self.seed = seed
        self.generator = None if seed is None else np.random.default_rng(seed)

    def normal(self, shape: Any, scale: Any = 1.0, dtype: Any = "float64", backend: Any = None) -> Any:
        """Normal(0, scale) values of ``shape`` on ``backend`` (active by default).

        Drawn in float64 and rounded to ``dtype``, so float32 weights are the
        float64 weights rounded. With ``seed=None``: ``scale * np.random.randn(*shape)``,
        the book's ``weight_init_std * np.random.randn(...)``.
        """
        gen = np.random if self.generator is None else self.generator
        host = gen.standard_normal(shape) * scale
        return asarray(host, dtype=dtype_name(dtype), backend=backend)

    def integers(self, high: Any, shape: Any, backend: Any = None) -> Any:
        """Integers in ``[0, high)`` (with replacement, like the book's
        ``np.random.choice(train_size, batch_size)``), as int64 on ``backend``.
        ``backend=False`` returns the host NumPy array. With ``seed=None``, each
        row is the book's ``np.random.choice(high, shape[-1])``, in order."""
        if self.generator is None:
            rows = [np.random.choice(high, shape[-1]) for _ in range(int(np.prod(shape[:-1])))]
            host = np.asarray(rows, dtype=np.int64).reshape(shape)
        else:
            host = self.generator.integers(0, high, size=shape, dtype=np.int64)
        if backend is False:
            return host
        return asarray(host, backend=backend)
