"""The mini-batch index stream and the plain stepper, shared by ``fit`` and ``fit_many``.

:class:`IndexStream` draws the mini-batch indices on the host (one sequence per seed, however
the run is chunked); :class:`Steps` runs a step function once per row of indices, the
reference path that a backend's stepper (CUDA graphs, JAX scans) replaces.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import Stepper

__all__ = ["IndexStream", "Steps", "index_block"]


class IndexStream:
    """Mini-batch indices, drawn on the host in blocks and placed on the device.

    The sequence depends only on the seed (and batch size, train size), never on
    how the training loop chunks its work, so every path and backend sees the
    same batches.
    """

    def __init__(self, rng, train_size, batch_size, xp, device, block=10_000):
        self.rng, self.train_size, self.batch_size = rng, train_size, batch_size
        self.xp, self.device, self.block = xp, device, block
        self.host: Any = None  # the block on the host
        self.buf: Any = None  # the same on the device, made when first asked for
        self.pos = 0
        self.blocks = 0  # blocks drawn so far
        self.starts: dict[int, dict] = {}  # block number -> the generator's state before it (seeded runs)

    def _draw_block(self):
        generator = self.rng.generator
        if generator is not None:
            self.starts[self.blocks] = generator.bit_generator.state
        self.host = self.rng.integers(self.train_size, (self.block, self.batch_size), backend=False)
        self.buf, self.pos = None, 0
        self.blocks += 1

    def position(self, row):
        """Where row ``row`` of the sequence is (a row already drawn): ``{"block", "state", "skip"}``,
        JSON-ready, for :meth:`seek`. Seeded runs only (NumPy's global state is not the stream's)."""
        block = row // self.block
        if block == self.blocks and self.rng.generator is not None:  # the next block, not drawn yet
            return {"block": block, "state": self.rng.generator.bit_generator.state, "skip": 0}
        if block not in self.starts:
            raise ValueError(f"row {row} of the mini-batch stream is not known (seed=None, or not drawn yet)")
        return {"block": block, "state": self.starts[block], "skip": row - block * self.block}

    def seek(self, position):
        """Continue from a :meth:`position`: the next row taken is the row it names."""
        generator = self.rng.generator
        if generator is None:
            raise ValueError("a mini-batch stream without a seed cannot be continued")
        generator.bit_generator.state = position["state"]
        self.blocks, self.starts = int(position["block"]), {}
        self._draw_block()
        self.pos = int(position["skip"])

    def take(self, n, on_host=False):
        """The next ``n`` rows (n, batch): on the device, or as NumPy rows (``on_host``: for a stepper
        that sends them itself, with no device operation per chunk)."""
        xp = np if on_host else self.xp
        pieces = []
        while n > 0:
            if self.host is None or self.pos == self.host.shape[0]:
                self._draw_block()
            if not on_host and self.buf is None:
                self.buf = self.xp.asarray(self.host, device=self.device)
            k = min(n, self.host.shape[0] - self.pos)
            pieces.append((self.host if on_host else self.buf)[self.pos : self.pos + k, ...])
            self.pos += k
            n -= k
        return pieces[0] if len(pieces) == 1 else xp.concat(pieces, axis=0)


def index_block(iters, batch_size):
    """Rows of mini-batch indices drawn at a time (fixed by the run's settings, so a seed
    gives the same batches to ``fit`` and to ``fit_many``)."""
    return max(1, min(10_000, iters, 50_000_000 // batch_size))


class Steps(Stepper):
    """Runs a step function once per row of indices (the reference path; a :class:`Stepper`).

    ``chunk``: iterations between reads of the loss on the host; ``shape``: of one step's
    loss (``(K,)`` for K stacked nets).
    """

    def __init__(self, step, xp, chunk=100, shape=()):
        self.step, self.xp, self.chunk, self.shape = step, xp, chunk, shape

    def run(self, idx_rows):
        """Run one step per row of ``idx_rows``; return the losses (n, *shape) (on the device)."""
        xp = self.xp
        losses = [self.step(idx_rows[i, ...]) for i in range(idx_rows.shape[0])]
        return xp.stack([xp.reshape(v, self.shape) for v in losses])

    def close(self):
        pass
