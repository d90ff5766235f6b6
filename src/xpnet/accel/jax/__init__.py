"""JAX: xpnet's own training step compiled once with ``jax.jit`` and run many steps at a time
with ``jax.lax.scan`` (``api.py``), the counterpart of CuPy's CUDA graphs."""
