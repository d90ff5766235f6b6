"""Recording a CUDA graph without losing the step's own error (no CuPy at import, so the CPU tests can check it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def record_graph(stream: Any, record: Callable[[], None]) -> Any:
    """The graph of what ``record()`` launches on ``stream`` (``begin_capture`` ... ``end_capture``).

    When ``record`` raises, the capture is still ended (the stream must not stay capturing) and
    ``record``'s own error is the one raised: ending a capture that a failed launch invalidated
    raises too (``cudaErrorStreamCaptureInvalidated``), and that error says nothing of the cause.
    It is kept as a note on the original (Python 3.11+)."""
    stream.begin_capture()
    try:
        record()
    except BaseException as error:
        try:
            stream.end_capture()
        except Exception as ended:  # noqa: BLE001 - any failure to end is secondary to ``error``
            add_note = getattr(error, "add_note", None)  # Python 3.11+
            if add_note is not None:
                add_note(f"(ending the CUDA graph capture then failed too: {type(ended).__name__}: {ended})")
        raise
    return stream.end_capture()
