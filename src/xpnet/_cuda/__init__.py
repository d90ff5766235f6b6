"""CuPy-only speed: fused kernels and CUDA-graph capture of the training step.

Nothing here changes the math: the kernels compute the same formulas as the
array-API code they stand in for, and the graph replays the very same step
function. Imported only when the CuPy backend is used.
"""
