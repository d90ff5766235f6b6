"""NumPy (CPU): how the host runs xpnet's chunked work (``api.py``)."""
