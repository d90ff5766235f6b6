"""The book's training experiment (chapter 4): TwoLayerNet on MNIST by mini-batch SGD.

    python examples/train.py                       # CPU (NumPy)
    XPNET_BACKEND=cupy python examples/train.py    # NVIDIA GPU (CuPy)
    python examples/train.py --help                # options

The same as ``xpnet train``: a thin command line over ``xpnet.train.fit``
(see ``xpnet/cli.py``).
"""

import sys

from xpnet.cli import train_main

if __name__ == "__main__":
    sys.exit(train_main(prog="train.py"))
