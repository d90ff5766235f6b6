"""A trained net on the user's own digits: pictures (PNG, JPEG), IDX files and ``.npy`` arrays,
each prepared the way MNIST's digits were made, then classified.

MNIST's recipe (LeCun, Cortes and Burges): the digit as light ink on black, cropped to its
bounding box, scaled (aspect kept, anti-aliased) into a 20x20 box, and placed in the 28x28 field
so that its centre of mass is the centre. :func:`prepare_digit` does the same from any picture:
grayscale, inverted when the digit is dark on light, the background taken off, then cropped,
scaled and centred; pixel values 0-1, as ``load_mnist(normalize=True)`` gives them. IDX files
hold digits that are already prepared (MNIST's own format): they are only scaled.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ._io import npy_from_bytes
from .backend import to_numpy
from .datasets.idx import DatasetError, read_idx
from .nets import TwoLayerNet

__all__ = ["classify", "classify_files", "load_run", "prepare_digit", "read_images"]

INK = 0.05  # pixels fainter than this (of the brightest) are background when cropping


def load_run(path: str | os.PathLike, backend: str | None = None) -> TwoLayerNet:
    """The net of a run folder written by ``xpnet train`` (or a ``params.npz`` file itself)."""
    path = os.fspath(path)
    params = os.path.join(path, "params.npz") if os.path.isdir(path) else path
    if not os.path.exists(params):
        where = f"{path} holds no params.npz" if os.path.isdir(path) else f"{path} does not exist"
        raise ValueError(f"{where}: give a run folder written by xpnet train, or its params.npz")
    return TwoLayerNet.load(params, backend=backend)


def read_images(path: str | os.PathLike) -> tuple[np.ndarray, bool]:
    """``(images, prepared)`` of one file: a picture as one (H, W) gray array (ink from the alpha
    channel when the picture is transparent), an IDX file as (N, H, W) already prepared, an
    ``.npy`` file as (H, W) or (N, H, W) to prepare. Errors name the file."""
    path = os.fspath(path)
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic == b"\x93NUMPY":
        with open(path, "rb") as fh:
            data = fh.read()
        try:
            a = npy_from_bytes(data)  # the header checked against the bytes before anything is allocated
        except ValueError as exc:
            raise ValueError(f"{path}: not a usable .npy array file ({exc})") from exc
        if a.ndim not in (2, 3) or a.dtype.kind not in "uif" or a.size == 0:
            raise ValueError(f"{path}: expected one image (H, W) or a stack (N, H, W) of numbers, got {a.shape}")
        return (a[None] if a.ndim == 2 else a), False
    if magic[:2] == b"\x00\x00" or (magic[:2] == b"\x1f\x8b" and "ubyte" in os.path.basename(path)):
        images = read_idx(path)  # MNIST's format, gzipped or not
        if images.ndim != 3:
            raise ValueError(f"{path}: an IDX file of images has 3 dimensions (N, H, W), this one {images.shape}")
        return images, True
    return _read_picture(path)[None], False


def _read_picture(path: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                alpha = np.asarray(img.convert("RGBA"))[..., 3]
                if alpha.min() < alpha.max():  # drawn on a transparent canvas: the ink is the opaque part
                    return alpha.astype(np.float64) / 255.0
            return np.asarray(img.convert("L"), dtype=np.float64) / 255.0
    except UnidentifiedImageError as exc:
        raise ValueError(f"{path}: not an image xpnet can read (PNG, JPEG, IDX or .npy)") from exc
    except Image.DecompressionBombError as exc:  # a header claiming billions of pixels: refused, not decoded
        raise ValueError(f"{path}: {exc}") from exc


def _unit(a: np.ndarray) -> np.ndarray:
    """Pixel values to 0-1: integers by their type's range, floats as 0-1 when they are, else 0-255."""
    if a.dtype in (np.uint8, np.uint16):
        return a.astype(np.float64) / np.iinfo(a.dtype).max
    if a.dtype.kind in "ui":
        return a.astype(np.float64) / 255.0
    a = np.asarray(a, dtype=np.float64)
    return a if np.nanmax(a) <= 1.0 else a / 255.0


def prepare_digit(image: Any, side: int = 28, box: int | None = None) -> np.ndarray:
    """One picture of a digit prepared as MNIST's were: a flat float64 array of ``side * side``
    values in 0-1 (ValueError when the picture holds no digit).

    Args:
        image: (H, W) gray values, or (H, W, 3|4) colour (0-255 integers, or 0-1 floats).
        side: the field's side (28 for MNIST, 8 for scikit-learn's digits).
        box: the box the digit is scaled into (20 for MNIST; ``side`` for other sizes).
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] in (3, 4):
        a = _unit(a[..., :3]) @ np.array([0.299, 0.587, 0.114])  # ITU-R 601 luma, as PIL's "L"
    elif a.ndim != 2:
        raise ValueError(f"image must be (H, W) gray or (H, W, 3|4) colour, got shape {a.shape}")
    g = np.nan_to_num(_unit(a))
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    background = float(np.median(border))
    if background > 0.5:  # dark ink on light paper: MNIST's digits are light on black
        g, background = 1.0 - g, 1.0 - background
    g = np.clip(g - background, 0.0, None)
    if g.max() <= 0.0:
        raise ValueError("the image holds no digit (it is one flat colour)")
    g = g / g.max()
    rows, cols = np.nonzero(g > INK)
    g = g[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    box = box or (20 if side == 28 else side)
    g = _scale_into(g, box)
    return _centre(g, side).reshape(side * side)


def _scale_into(g: np.ndarray, box: int) -> np.ndarray:
    from PIL import Image

    h, w = g.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resample = Image.Resampling.LANCZOS if scale > 0.25 else Image.Resampling.BOX
    out = np.asarray(Image.fromarray(g.astype(np.float32), mode="F").resize(size, resample), dtype=np.float64)
    return np.clip(out, 0.0, 1.0)


def _centre(g: np.ndarray, side: int) -> np.ndarray:
    """``g`` placed in a ``side`` x ``side`` field with its centre of mass at the centre (kept whole)."""
    h, w = g.shape
    total = g.sum()
    cy = float((np.arange(h) @ g.sum(axis=1)) / total)
    cx = float((np.arange(w) @ g.sum(axis=0)) / total)
    # MNIST's centres of mass lie in [13.5, 14.5): the field's centre, 14, rounded half up
    top = min(max(math.floor(side / 2 - cy + 0.5), 0), side - h)
    left = min(max(math.floor(side / 2 - cx + 0.5), 0), side - w)
    field = np.zeros((side, side))
    field[top : top + h, left : left + w] = g
    return field


def classify(net: TwoLayerNet, x: Any, top: int = 1) -> list[list[tuple[int, float]]]:
    """The ``top`` most probable digits of each row of ``x`` (N, inputs), as ``(digit, probability)``."""
    _check_top(net, top)
    x = np.asarray(x, dtype=np.dtype(net.dtype))
    y = to_numpy(net.predict(x))
    order = np.argsort(-y, axis=1, kind="stable")[:, :top]
    return [[(int(k), float(row[k])) for k in ks] for row, ks in zip(y, order, strict=True)]


def _check_top(net: TwoLayerNet, top: Any) -> None:
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= net.output_size:
        raise ValueError(f"top must be a whole number from 1 to {net.output_size}, got {top!r}")


def side_of(net: TwoLayerNet) -> int:
    """The picture side a net's inputs make (28 for 784); ValueError when they are not a square."""
    side = math.isqrt(net.input_size)
    if side * side != net.input_size:
        raise ValueError(f"the net takes {net.input_size} inputs, which are not a square picture")
    return side


def classify_files(
    net: TwoLayerNet, paths: Iterable[str | os.PathLike], top: int = 1
) -> list[tuple[str, list[tuple[int, float]] | Exception]]:
    """Each image of each file classified: ``(name, [(digit, probability), ...])``, where a file
    holding several images names each ``file[i]``; a file that cannot be read or holds no digit
    gives ``(name, the error)`` and the others are still classified."""
    side = side_of(net)
    _check_top(net, top)  # before any file is read
    results: list[tuple[str, list[tuple[int, float]] | Exception]] = []
    for path in paths:
        name = os.fspath(path)
        try:
            names, rows = _prepared_rows(name, side)
        except (OSError, ValueError, DatasetError) as exc:  # DatasetError: a damaged IDX file
            results.append((name, exc))
            continue
        results.extend(zip(names, classify(net, rows, top), strict=True))
    return results


def _prepared_rows(path: str, side: int) -> tuple[Sequence[str], np.ndarray]:
    images, prepared = read_images(path)
    if prepared and images.shape[1:] != (side, side):
        raise ValueError(f"{path}: its images are {images.shape[1]}x{images.shape[2]}, the net takes {side}x{side}")
    names = [path] if images.shape[0] == 1 else [f"{path}[{i}]" for i in range(images.shape[0])]
    if prepared:
        return names, _unit(images).reshape(images.shape[0], side * side)
    rows = []
    for n, image in zip(names, images, strict=True):
        try:
            rows.append(prepare_digit(image, side))
        except ValueError as exc:
            raise ValueError(f"{n}: {exc}") from exc
    return names, np.stack(rows)
