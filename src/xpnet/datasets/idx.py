"""Reading and writing IDX files (the format of MNIST and Fashion-MNIST)."""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from typing import Any

import numpy as np

from .._io import atomic_write


class DatasetError(RuntimeError):
    """A data file is missing, damaged or could not be downloaded; the
    message names the file and what to do."""


_TYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}


def read_bytes(path, limit=None) -> bytes:
    """The decompressed bytes of ``path`` (gzip by magic number, else raw); with ``limit``, never more
    than that many are read or inflated (a file that holds more is refused, however it is compressed)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
            fh.seek(0)
            if head == b"\x1f\x8b":
                with gzip.GzipFile(fileobj=fh) as gz:
                    data = gz.read() if limit is None else gz.read(limit + 1)
            else:
                data = fh.read() if limit is None else fh.read(limit + 1)
        if limit is not None and len(data) > limit:
            raise DatasetError(
                f"{path}: holds more than the {limit:,} bytes this file has when it is whole "
                "(another file, or a damaged one); delete it and fetch it again (xpnet fetch mnist)"
            )
        return data
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DatasetError(
            f"{path}: the gzip file is truncated or damaged ({exc}); delete it and fetch it again (xpnet fetch mnist)"
        ) from exc
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc})") from exc


def parse_idx(data: bytes, path="<bytes>", expect_ndim=None, expect_dims=None, expect_code=None) -> np.ndarray:
    """Parse IDX bytes into an array, checking the header against the length.

    Args:
        data: the (decompressed) file contents.
        path: file name for error messages.
        expect_ndim: required number of dimensions (1 for labels, 3 for images).
        expect_dims: required trailing dimensions, e.g. ``(28, 28)``.
        expect_code: required element type (0x08: unsigned bytes, as in MNIST).

    Raises:
        DatasetError: wrong magic number, wrong dimensions, or a length that
            does not match the header.
    """
    fix = "delete it and fetch it again (xpnet fetch mnist)"
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _TYPES:
        raise DatasetError(f"{path}: not an IDX file (wrong magic number {data[:4].hex() or 'empty'}); {fix}")
    code, ndim = data[2], data[3]
    if expect_ndim is not None and ndim != expect_ndim:
        raise DatasetError(
            f"{path}: IDX file has {ndim} dimensions, expected {expect_ndim} "
            f"({'labels' if expect_ndim == 1 else 'images'}); is it the right file? {fix}"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{path}: file ends inside its header; {fix}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    if expect_dims is not None and tuple(dims[1:]) != tuple(expect_dims):
        raise DatasetError(f"{path}: items of shape {dims[1:]}, expected {tuple(expect_dims)}; {fix}")
    if expect_code is not None and code != expect_code:
        raise DatasetError(
            f"{path}: elements of type {np.dtype(_TYPES[code]).name} (IDX code 0x{code:02x}), "
            f"expected {np.dtype(_TYPES[expect_code]).name} (0x{expect_code:02x}); {fix}"
        )
    dtype = np.dtype(_TYPES[code])
    need = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != need:
        raise DatasetError(
            f"{path}: the header promises {need} bytes but the file has {len(data)} "
            f"({'truncated' if len(data) < need else 'extra bytes'}); {fix}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path, expect_ndim=None, expect_dims=None, expect_code=None, limit=None) -> np.ndarray:
    """Read an IDX file (gzip or raw, at most ``limit`` bytes inflated) into a NumPy array; see
    :func:`parse_idx`."""
    return parse_idx(read_bytes(path, limit), os.fspath(path), expect_ndim, expect_dims, expect_code)


def write_idx(path, array, compress=None) -> None:
    """Write ``array`` (uint8 or int8) as an IDX file, gzip if the name ends in .gz.

    Written under a temporary name and renamed, so a failure leaves nothing.
    """
    path = os.fspath(path)
    array = np.ascontiguousarray(array)
    code = _CODES.get(array.dtype)
    if code is None:
        raise ValueError(f"array must be uint8 or int8 for IDX, got {array.dtype}")
    payload = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    if compress is None:
        compress = path.endswith(".gz")
    if compress:
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    atomic_write(path, payload)
