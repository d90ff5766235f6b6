"""The chapter's learning-rate experiment: lr 0.01, 0.1, 1, 10 x 3 seeds, all nets at once.

    python examples/sweep.py                          # the chapter's rates, 3 seeds each
    python examples/sweep.py --lr 0.05 0.5 --seeds 5  # your own
    python examples/sweep.py --help                   # options

The same as ``xpnet sweep``: a thin command line over ``xpnet.fit_many`` (see ``xpnet/cli.py``).
"""

import sys

from xpnet.cli import sweep_main

if __name__ == "__main__":
    sys.exit(sweep_main(prog="sweep.py"))
