"""Data sets: MNIST and Fashion-MNIST (verified downloads and a fast cache).

MNIST's official test set (10,000 real digits) ships with xpnet
(``datasets/data/``, CC BY-SA 3.0, see the NOTICE there): without network
and without MNIST, ``load_dataset("auto")`` trains on its first 8,000 and
tests on the last 2,000. MNIST is also found where torchvision
(``<root>/MNIST/raw/``) and Keras (``~/.keras/datasets/mnist.npz``) keep it.
scikit-learn's 8x8 digits remain as an option (``pip install scikit-learn``).

Every loader returns ``(x_train, t_train), (x_test, t_test)`` as the book's
``load_mnist`` does, on the active backend unless ``backend=`` names another.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np

from .._typing import Array
from . import cache
from .arrays import check_flags, finish, split_size
from .download import download_file, md5sum
from .idx import DatasetError, read_idx
from .keras import keras_mnist_path, load_keras_npz

#: ``((x_train, t_train), (x_test, t_test))``, as the book's ``load_mnist`` returns.
Split = tuple[tuple[Array, Array], tuple[Array, Array]]

__all__ = [
    "load_mnist",
    "load_fashion_mnist",
    "load_digits",
    "load_mnist_t10k",
    "load_dataset",
    "DatasetError",
    "data_dir",
    "fetch",
    "DATASETS",
    "TITLES",
    "BUNDLED_DIR",
    "keras_mnist_path",
]

#: MNIST's official test files, shipped with xpnet (byte-identical to the published ones).
BUNDLED_DIR = pathlib.Path(__file__).resolve().with_name("data")

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


@dataclasses.dataclass(frozen=True)
class Spec:
    name: str
    folder: str
    md5: dict
    mirrors: tuple
    mirror_env: str
    system_dirs: tuple = ()
    torchvision: str = ""  # torchvision's folder name under its root (files in <root>/<name>/raw/)
    bundled: tuple = ()  # keys of files that ship with xpnet (BUNDLED_DIR)
    sizes: dict = dataclasses.field(default_factory=dict)  # published .gz sizes: a download's cap


MNIST = Spec(
    name="MNIST",
    folder="mnist",
    md5={
        "train_images": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train_labels": "d53e105ee54ea40749a09fcbcd1e9432",
        "test_images": "9fb629c4189551a2d022fa330f9573f3",
        "test_labels": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    mirror_env="XPNET_MNIST_MIRROR",
    torchvision="MNIST",
    bundled=("test_images", "test_labels"),
    sizes={"train_images": 9912422, "train_labels": 28881, "test_images": 1648877, "test_labels": 4542},
)

FASHION_MNIST = Spec(
    name="Fashion-MNIST",
    folder="fashion-mnist",
    md5={
        "train_images": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train_labels": "25c81989df183df01b3e8a0aad5dffbe",
        "test_images": "bef4ecab320f06d8554ea6380940ec79",
        "test_labels": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ),
    mirror_env="XPNET_FASHION_MNIST_MIRROR",
    system_dirs=("/usr/share/datasets/fashion-mnist",),  # Debian's dataset-fashion-mnist
    torchvision="FashionMNIST",
    sizes={"train_images": 26421880, "train_labels": 29515, "test_images": 4422102, "test_labels": 5148},
)

#: Bytes of each IDX file when whole (MNIST and Fashion-MNIST alike): no file is inflated past them.
IDX_BYTES = {
    "train_images": 16 + 60_000 * 28 * 28,
    "train_labels": 8 + 60_000,
    "test_images": 16 + 10_000 * 28 * 28,
    "test_labels": 8 + 10_000,
}

DATASETS = ("auto", "mnist", "mnist-t10k", "fashion-mnist", "digits")

#: How figures and reports name each data set.
TITLES = {
    "mnist": "MNIST",
    "mnist-t10k": "MNIST test digits (8,000 train / 2,000 test)",
    "fashion-mnist": "Fashion-MNIST",
    "digits": "scikit-learn's 8x8 digits",
}


def data_dir() -> pathlib.Path:
    """``XPNET_DATA_DIR``, or the per-user cache folder (``~/.cache/xpnet``)."""
    env = os.environ.get("XPNET_DATA_DIR", "").strip()
    if env:
        return pathlib.Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "xpnet"


def _mirrors(spec: Any) -> Any:
    extra = os.environ.get(spec.mirror_env, "").strip()
    mirrors = list(spec.mirrors)
    if extra:
        mirrors.insert(0, extra if extra.endswith("/") else extra + "/")
    return mirrors


def _folders(spec: Any, root: Any) -> Any:
    """The folders a spec's files are looked for in, in order."""
    folders = [root / spec.folder]
    if spec is MNIST:
        folders.append(root)  # the bare data dir holds MNIST's files (same names)
    if spec.torchvision:
        folders.append(root / spec.torchvision / "raw")  # torchvision's layout under the same root
    folders += [pathlib.Path(d) for d in spec.system_dirs]
    return folders


def _find(spec: Any, root: Any, key: Any) -> Any:
    """Path of a file (gzip or uncompressed) in the places the spec looks, or None.

    The files that ship with xpnet come last, so a user's own copy wins.
    """
    name = FILES[key]
    folders = _folders(spec, root) + ([BUNDLED_DIR] if key in spec.bundled else [])
    for folder in folders:
        for candidate in (folder / name, folder / name[:-3]):
            if candidate.is_file():
                return candidate
    return None


def fetch(
    spec: Any = MNIST,
    root: Any = None,
    keys: Any = tuple(FILES),
    download: Any = True,
    progress: Any = None,
    timeout: Any = 20.0,
) -> Any:
    """Make sure the files are there; download what is missing.

    Returns:
        dict key -> path.

    Raises:
        DatasetError: a file is missing and could not be downloaded from
            any mirror (the message lists what was tried and what to do).
    """
    root = data_dir() if root is None else pathlib.Path(root)
    paths = {}
    for key in keys:
        found = _find(spec, root, key)
        if found is not None:
            paths[key] = found
    missing = [k for k in keys if k not in paths]
    if missing and not download:
        raise DatasetError(_missing_message(spec, root, missing, tried=None))
    if missing:
        dest_dir = root / spec.folder
        errors = []
        dead = set()
        for key in missing:
            dest = dest_dir / FILES[key]
            for base in _mirrors(spec):
                if base in dead:
                    continue
                try:
                    download_file(
                        base + FILES[key],
                        dest,
                        md5=spec.md5[key],
                        timeout=timeout,
                        progress=progress,
                        max_bytes=spec.sizes.get(key),
                    )
                    paths[key] = dest
                    break
                except DatasetError as exc:
                    errors.append(str(exc))
                    text = str(exc)
                    if "URLError" in text or "timed out" in text or "Timeout" in text:
                        dead.add(base)  # unreachable: do not try it for the other files
            if key not in paths:
                raise DatasetError(_missing_message(spec, root, [key], tried=errors))
    return paths


def _missing_message(spec: Any, root: Any, missing: Any, tried: Any) -> Any:
    where = root / spec.folder
    text = f"{spec.name}: {', '.join(FILES[k] for k in missing)} not found in {where}"
    if tried is not None:
        text += "; download failed: " + " | ".join(tried[-4:])
    else:
        text += " (download switched off)"
    text += (
        f". To fix: run 'xpnet fetch {spec.folder}' where there is network, or copy the "
        f"four files into {where} (or set XPNET_DATA_DIR), or put a mirror first with {spec.mirror_env}=URL"
    )
    if spec is MNIST:
        text += (
            ". Offline, MNIST's 10,000 test digits ship with xpnet: xpnet.datasets.load_mnist_t10k() "
            "(8,000 to train on, 2,000 to test; --dataset mnist-t10k on the command line)"
        )
    return text


def check_kind(spec: Any, key: Any, path: Any) -> Any:
    """How a found file can be checked: ``"digest"`` (a .gz whose published MD5 is known) or
    ``"structure"`` (uncompressed, or a recompressed system copy such as Debian's)."""
    path = pathlib.Path(path)
    if path.suffix != ".gz" or key not in spec.md5 or any(path.parent == pathlib.Path(d) for d in spec.system_dirs):
        return "structure"
    return "digest"


def check_note(spec: Any, key: Any, path: Any) -> Any:
    """A plain phrase for what was checked of a valid file (for ``xpnet fetch``)."""
    if check_kind(spec, key, path) == "digest":
        return "published checksum"
    if pathlib.Path(path).suffix != ".gz":
        return "structure checked only (an uncompressed file has no published checksum)"
    return "structure checked only (a recompressed copy: not the published gzip)"


def _verify_digest(spec: Any, key: Any, path: Any, digest: Any) -> Any:
    if check_kind(spec, key, path) == "digest" and digest != spec.md5[key]:
        raise DatasetError(
            f"{path}: not the published {FILES[key]} of {spec.name} (MD5 {digest}, published {spec.md5[key]}); "
            f"is it from another data set? Delete it and fetch it again (xpnet fetch {spec.folder})"
        )


def _cache_dir(spec: Any, root: Any, keys: Any) -> Any:
    tag = "all" if set(keys) == set(FILES) else "-".join(sorted(keys))
    return root / spec.folder / f"{spec.folder}-{tag}.cache"


def load_raw(
    spec: Any = MNIST, root: Any = None, keys: Any = tuple(FILES), download: Any = True, progress: Any = None
) -> Any:
    """The uint8 arrays of a data set, from the fast cache when it is current.

    Returns:
        dict key -> NumPy array (images (N, 28, 28) uint8, labels (N,) uint8).
    """
    root = data_dir() if root is None else pathlib.Path(root)
    if spec is MNIST and set(keys) == set(FILES) and any(_find(spec, root, k) is None for k in keys):
        keras = keras_mnist_path()
        if keras.is_file():  # Keras already has it: no download
            return load_keras_npz(keras)
    paths = fetch(spec, root, keys, download=download, progress=progress)
    digests = {k: _md5(p) for k, p in paths.items()}
    sig = cache.signature(paths, digests)
    folder = _cache_dir(spec, root, keys)
    cached = cache.read(folder, sig, keys)  # the cache: one .npy per array (memory-mapped)
    if cached is not None:
        return cached
    arrays = {}
    for key in keys:
        ndim = 3 if key.endswith("images") else 1
        arrays[key] = read_idx(
            paths[key],
            expect_ndim=ndim,
            expect_dims=(28, 28) if ndim == 3 else None,
            expect_code=0x08,
            limit=IDX_BYTES[key],
        )
    for split in ("train", "test"):
        ik, lk = f"{split}_images", f"{split}_labels"
        if ik in arrays and lk in arrays and arrays[ik].shape[0] != arrays[lk].shape[0]:
            raise DatasetError(
                f"{paths[ik]} holds {arrays[ik].shape[0]} images but {paths[lk]} holds "
                f"{arrays[lk].shape[0]} labels; one of them is from another set or damaged: "
                "delete both and fetch them again"
            )
        if lk in arrays and arrays[lk].size and int(arrays[lk].max()) > 9:
            raise DatasetError(
                f"{paths[lk]}: labels up to {int(arrays[lk].max())}, expected 0-9; delete it and fetch it again"
            )
    for key in keys:  # a well-formed file can still be another data set's: its digest tells
        _verify_digest(spec, key, paths[key], digests[key])
    cache.write(folder, arrays, sig)
    return arrays


def _md5(path: Any) -> Any:
    try:
        return md5sum(path)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def _load_spec(
    spec: Any,
    normalize: Any,
    flatten: Any,
    one_hot_label: Any,
    dtype: Any,
    backend: Any,
    data_dir_: Any,
    download: Any,
    progress: Any,
) -> Any:
    check_flags(normalize, flatten, one_hot_label)
    raw = load_raw(spec, data_dir_, download=download, progress=progress)
    args = (normalize, flatten, one_hot_label, dtype, backend, 255.0, 28)
    return (
        finish(raw["train_images"], raw["train_labels"], *args),
        finish(raw["test_images"], raw["test_labels"], *args),
    )


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    dtype: Any = None,
    backend: str | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    progress: bool | None = None,
) -> Split:
    """MNIST, as the book's ``load_mnist``.

    Args:
        normalize: images as floats in [0, 1] (float32 unless ``dtype``), else uint8.
        flatten: images as (N, 784); else (N, 1, 28, 28).
        one_hot_label: labels as one-hot (N, 10); else int64 (N,).
        dtype: dtype of the images (and one-hot labels).
        backend: where the arrays go (the active backend by default).
        data_dir: folder with the files (default ``XPNET_DATA_DIR`` or ``~/.cache/xpnet``;
            the files may sit in it or in its ``mnist/`` subfolder).
        download: fetch missing files (verified against published MD5s).
        progress: download progress bars: None on a terminal only, True, False.

    Returns:
        ``(x_train, t_train), (x_test, t_test)``: 60,000 and 10,000 samples.

    Raises:
        DatasetError: files missing and not downloadable, or damaged.
    """
    return _load_spec(MNIST, normalize, flatten, one_hot_label, dtype, backend, data_dir, download, progress)


def load_fashion_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    dtype: Any = None,
    backend: str | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    progress: bool | None = None,
) -> Split:
    """Fashion-MNIST, same signature and form as :func:`load_mnist`.

    Also finds Debian's ``dataset-fashion-mnist`` files in
    ``/usr/share/datasets/fashion-mnist/``.
    """
    return _load_spec(FASHION_MNIST, normalize, flatten, one_hot_label, dtype, backend, data_dir, download, progress)


def load_mnist_t10k(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    dtype: Any = None,
    backend: str | None = None,
    data_dir: str | os.PathLike | None = None,
    n_train: int = 8000,
    download: bool = False,
    progress: bool | None = None,
) -> Split:
    """MNIST's official 10,000 test digits split into train (first ``n_train``)
    and test (the rest): real digits for the book's network without the
    training images. The files are the user's (in the data folder) or else
    the copy that ships with xpnet."""
    check_flags(normalize, flatten, one_hot_label)
    raw = load_raw(MNIST, data_dir, keys=("test_images", "test_labels"), download=download, progress=progress)
    images, labels = raw["test_images"], raw["test_labels"]
    n_train = split_size(n_train, images.shape[0])
    args = (normalize, flatten, one_hot_label, dtype, backend, 255.0, 28)
    return (finish(images[:n_train], labels[:n_train], *args), finish(images[n_train:], labels[n_train:], *args))


def load_digits(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    dtype: Any = None,
    backend: str | None = None,
    n_train: int = 1437,
) -> Split:
    """scikit-learn's 8x8 handwritten digits (1,797 real images; ``pip install scikit-learn``).

    Same return form as :func:`load_mnist`: images
    (N, 64) or (N, 1, 8, 8), pixel values 0-16 (divided by 16 with
    ``normalize``); the first ``n_train`` images train, the rest test.
    """
    check_flags(normalize, flatten, one_hot_label)
    try:
        from sklearn.datasets import load_digits as _sk_digits
    except ImportError as exc:
        raise DatasetError(
            "the 8x8 digits come with scikit-learn, which is not installed: "
            "pip install scikit-learn (or use --dataset mnist-t10k, which ships with xpnet)"
        ) from exc
    bunch = _sk_digits()
    images = bunch.images.astype(np.uint8)  # integers 0..16
    labels = bunch.target.astype(np.uint8)
    n_train = split_size(n_train, images.shape[0])
    args = (normalize, flatten, one_hot_label, dtype, backend, 16.0, 8)
    return (finish(images[:n_train], labels[:n_train], *args), finish(images[n_train:], labels[n_train:], *args))


def load_dataset(
    name: str = "auto", *, notice: Callable[[str], Any] | None = None, verbose: bool = False, **kwargs: Any
) -> tuple[str, Split]:
    """Load a data set by name; ``"auto"`` is MNIST, else MNIST's test digits that ship with xpnet.

    Args:
        name: one of ``auto``, ``mnist``, ``mnist-t10k``, ``fashion-mnist``, ``digits``.
        notice: called with one line when ``auto`` falls back to the bundled digits.
        verbose: with ``notice``, a second line saying why MNIST was not available.
        kwargs: passed to the loader (``dtype``, ``backend``, ``data_dir``...).

    Returns:
        ``(name_used, ((x_train, t_train), (x_test, t_test)))``.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}: valid names are {', '.join(DATASETS)}")
    digits_kwargs = {k: v for k, v in kwargs.items() if k not in ("data_dir", "download", "progress")}
    if name == "mnist":
        return name, load_mnist(**kwargs)
    if name == "fashion-mnist":
        return name, load_fashion_mnist(**kwargs)
    if name == "mnist-t10k":
        return name, load_mnist_t10k(**kwargs)
    if name == "digits":
        return name, load_digits(**digits_kwargs)
    try:
        return "mnist", load_mnist(**kwargs)
    except DatasetError as exc:
        # one short line (why, and where xpnet looked: ``xpnet info``, or ``verbose=`` here)
        line = (
            "notice: MNIST's training images are not available; training on the 10,000 test digits "
            "that ship with xpnet. For all 60,000: xpnet fetch mnist"
        )
        if notice is not None:
            notice(line)
            if verbose:
                notice(f"notice: why: {_short(exc)}")
        t10k_kwargs = {k: v for k, v in kwargs.items() if k != "download"}
        return "mnist-t10k", load_mnist_t10k(**t10k_kwargs)


def _short(exc: Any) -> Any:
    text = str(exc)
    return text.split(". To fix:")[0]
