"""The one random-number wrapper (the Array API standard has none).

Numbers are drawn on the host from ``numpy.random.default_rng(seed)`` and then
placed on the backend, so one seed gives bit-identical values on every
backend.
"""

from __future__ import annotations

import numpy as np

from .backend import asarray, dtype_name


class Rng:
    """Seeded random numbers, drawn on the host, placed on a backend.

    Args:
        seed: anything ``numpy.random.default_rng`` accepts (None: fresh entropy).
    """

    def __init__(self, seed=None):
        self.seed = seed
        self.generator = np.random.default_rng(seed)

    def normal(self, shape, scale=1.0, dtype="float64", backend=None):
        """Normal(0, scale) values of ``shape`` on ``backend`` (active by default).

        Drawn in float64 and rounded to ``dtype``, so float32 weights are the
        float64 weights rounded.
        """
        host = self.generator.standard_normal(shape) * scale
        return asarray(host, dtype=dtype_name(dtype), backend=backend)

    def integers(self, high, shape, backend=None):
        """Integers in ``[0, high)`` (with replacement, like the book's
        ``np.random.choice(train_size, batch_size)``), as int64 on ``backend``.
        ``backend=False`` returns the host NumPy array."""
        host = self.generator.integers(0, high, size=shape, dtype=np.int64)
        if backend is False:
            return host
        return asarray(host, backend=backend)
