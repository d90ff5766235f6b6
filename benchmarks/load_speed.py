"""First-load and cached-load time of a full-size MNIST-format set (60,000 + 10,000
images), written here as synthetic IDX files (the real training images are not
needed to time the format).

    python benchmarks/load_speed.py
"""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from xpnet import datasets
from xpnet.datasets.idx import write_idx


def main():
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as root:
        folder = os.path.join(root, "mnist")
        os.makedirs(folder)
        t0 = time.perf_counter()
        for name, n in (("train", 60000), ("t10k", 10000)):
            images = np.zeros((n, 28, 28), dtype=np.uint8)
            images[:, 4:24, 4:24] = rng.integers(0, 256, (n, 20, 20), dtype=np.uint8)  # digit-like margins
            write_idx(os.path.join(folder, f"{name}-images-idx3-ubyte.gz"), images)
            write_idx(os.path.join(folder, f"{name}-labels-idx1-ubyte.gz"), rng.integers(0, 10, n, dtype=np.uint8))
        print(f"wrote synthetic full-size IDX files in {time.perf_counter() - t0:.1f} s")
        rows = []
        t0 = time.perf_counter()
        (x, t), (xt, tt) = datasets.load_mnist(data_dir=root, download=False)
        rows.append(("first load (parse gzip IDX, write cache)", time.perf_counter() - t0))
        assert x.shape == (60000, 784) and xt.shape == (10000, 784)
        code = ("import sys, time; from xpnet import datasets; t0 = time.perf_counter(); "
                "datasets.load_mnist(data_dir=sys.argv[1], download=False, normalize=sys.argv[2] == '1'); "
                "print(time.perf_counter() - t0)")
        for normalize, label in (("1", "cached load, float32 (new process)"), ("0", "cached load, uint8 (new process)")):
            times = [float(subprocess.run([sys.executable, "-c", code, root, normalize], capture_output=True,
                                          text=True, check=True).stdout) for _ in range(5)]
            rows.append((label + f", median of 5 (max {max(times):.3f})", float(np.median(times))))
    for label, secs in rows:
        print(f"{label:42s} {secs:6.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
