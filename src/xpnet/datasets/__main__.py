"""Fetch and check a data set ahead of time: ``python -m xpnet.datasets mnist``."""

from __future__ import annotations

import argparse
import sys

from . import FASHION_MNIST, FILES, MNIST, DatasetError, data_dir, fetch, load_raw
from .download import md5sum

SPECS = {"mnist": MNIST, "fashion-mnist": FASHION_MNIST}


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def main(argv=None):
    parser = _Parser(prog="python -m xpnet.datasets", description=__doc__)
    parser.add_argument("name", choices=sorted(SPECS), help="data set to fetch and check")
    parser.add_argument("--data-dir", help="folder (default: XPNET_DATA_DIR or ~/.cache/xpnet)")
    parser.add_argument("--no-download", action="store_true", help="only check what is there")
    args = parser.parse_args(argv)
    spec = SPECS[args.name]
    root = args.data_dir or data_dir()
    try:
        paths = fetch(spec, root, download=not args.no_download)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for key in FILES:
        path = paths[key]
        digest = md5sum(path)
        note = "published checksum" if digest == spec.md5[key] else "structure checked (not the published gzip)"
        print(f"{path}  md5 {digest}  {note}")
    try:
        raw = load_raw(spec, root, download=False, progress=False)
    except DatasetError as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 1
    print(f"{spec.name}: valid: {raw['train_images'].shape[0]} training and "
          f"{raw['test_images'].shape[0]} test images of 28x28 (cache ready)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
