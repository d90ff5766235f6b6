"""``xpnet fetch``: download (or only check) a data set, check it whole, say what was checked of each file."""

from __future__ import annotations

from ..datasets import FASHION_MNIST, FILES, MNIST, check_note, data_dir, load_raw
from ..datasets import fetch as fetch_files
from ..datasets.download import md5sum


def run(args, prog):
    spec = {"mnist": MNIST, "fashion-mnist": FASHION_MNIST}[args.name]
    root = args.data_dir or data_dir()
    paths = fetch_files(spec, root, download=not args.no_download, progress=args.progress)
    raw = load_raw(spec, root, download=False, progress=False)  # every check, before anything is called valid
    for key in FILES:
        print(f"{paths[key]}  md5 {md5sum(paths[key])}  {check_note(spec, key, paths[key])}")
    print(
        f"{spec.name}: valid: {raw['train_images'].shape[0]} training and "
        f"{raw['test_images'].shape[0]} test images of 28x28 (cache ready)"
    )
    return 0
