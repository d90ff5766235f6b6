"""CuPy (NVIDIA GPU): fused kernels, CUDA-graph capture, direct cuBLAS calls.

Nothing here changes the math: the kernels compute the formulas of the
Array-API functions they replace (``sources.REPLACES``), and the graphs
replay the very step function ``fit`` hands in. ``api.py`` is what
``xpnet.accel`` reads; ``sources.py`` (the CUDA C as text) and ``fused.py``
import no CuPy, so the CPU tests can check them.
"""
