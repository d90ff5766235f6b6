"""``python -m xpnet.datasets NAME``: the 0.1 spelling of ``xpnet fetch NAME``."""

import sys

from ..cli import main

raise SystemExit(main(["fetch", *sys.argv[1:]], prog="xpnet"))
