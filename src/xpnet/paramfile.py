"""The parameter file of a TwoLayerNet: an ``.npz`` with the four arrays and a JSON metadata
entry (sizes, dtype, initial scale, format name), written under a temporary name and renamed;
read back with every field checked, and no more read than the sizes allow."""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib

import numpy as np

from ._io import atomic_path, npy_from_bytes

PARAM_NAMES = ("W1", "b1", "W2", "b2")

_FORMAT = "xpnet.TwoLayerNet/1"


def write(path, meta, arrays, extra=None, form=_FORMAT):
    """Write ``arrays`` (host arrays named ``W1, b1, W2, b2``) and ``meta`` (sizes, dtype,
    weight_init_std) to ``path``, the format's name (``form``) added; ``extra``: more named host
    arrays (a checkpoint's state and loss)."""
    path = os.fspath(path)
    meta = {**meta, "format": form}
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, __meta__=np.asarray(json.dumps(meta)), **arrays, **(extra or {}))


def read(path, extra=None, form=_FORMAT, written_by="TwoLayerNet.save"):
    """``(meta, arrays)`` of a file written by ``TwoLayerNet.save``, checked; ValueError otherwise.
    ``extra``: the names of more arrays the file holds, with the most bytes each may unpack to
    (returned in ``arrays`` too); ``form`` and ``written_by``: the format a checkpoint has."""
    path = os.fspath(path)
    extra = extra or {}

    def bad(why):
        what = "parameter file" if form == _FORMAT else "file"
        return ValueError(f"{path}: not a TwoLayerNet {what} written by {written_by} ({why})")

    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise bad("not an .npz archive, or a damaged one") from exc
    with archive:
        names = {n: archive.getinfo(n) for n in archive.namelist()}
        want = {"__meta__.npy", *(f"{k}.npy" for k in (*PARAM_NAMES, *extra))}
        if set(names) != want:
            raise bad(f"it holds {', '.join(sorted(names)) or 'nothing'}, expected {', '.join(sorted(want))}")

        def read(name, limit):
            if names[name].file_size > limit:
                raise bad(f"{name} is {names[name].file_size} bytes, more than its shape allows ({limit})")
            try:
                return npy_from_bytes(archive.read(name))
            except (ValueError, EOFError, OSError, zlib.error, zipfile.BadZipFile) as exc:
                raise bad(f"{name} is damaged: {exc}") from exc

        try:
            meta = json.loads(str(read("__meta__.npy", 65_536)))
        except json.JSONDecodeError as exc:
            raise bad(f"its metadata is not JSON: {exc}") from exc
        if not isinstance(meta, dict) or meta.get("format") != form:
            raise bad(f"its metadata does not say format {form!r}")
        _check_meta(meta, bad)
        d, h, c = meta["input_size"], meta["hidden_size"], meta["output_size"]
        if d * h + h * c > 2 * 10**9:
            raise bad(f"sizes {d} x {h} x {c} are implausibly large")
        shapes = {"W1": (d, h), "b1": (h,), "W2": (h, c), "b2": (c,)}
        arrays = {}
        for k, shape in shapes.items():
            a = read(f"{k}.npy", math.prod(shape) * 8 + 1024)
            if a.dtype.kind != "f" or a.dtype.itemsize not in (4, 8):
                raise bad(f"{k} is {a.dtype}, expected float32 or float64")
            if a.shape != shape:
                raise bad(f"{k} has shape {a.shape}, expected {shape}")
            if not np.all(np.isfinite(a)):
                raise bad(f"{k} holds NaN or infinite values")
            arrays[k] = a
        for k, limit in extra.items():
            arrays[k] = read(f"{k}.npy", limit)
    return meta, arrays


def _check_meta(meta, bad):
    """Sizes, dtype and initial scale of the metadata, checked (``bad(why)`` makes the error)."""
    for key in ("input_size", "hidden_size", "output_size"):
        v = meta.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 10**8:
            raise bad(f"{key} must be a positive whole number, got {v!r}")
    if meta.get("dtype") not in ("float32", "float64"):
        raise bad(f"dtype must be float32 or float64, got {meta.get('dtype')!r}")
    std = meta.get("weight_init_std", 0.01)
    if isinstance(std, bool) or not isinstance(std, (int, float)) or not math.isfinite(std) or std <= 0:
        raise bad(f"weight_init_std must be a positive number, got {std!r}")
    meta["weight_init_std"] = std
