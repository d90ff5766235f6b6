"""The ``xpnet`` command (also ``python -m xpnet``): ``train``, ``sweep``, ``fetch``, ``info``, ``--version``.

One module per job: ``main`` (argument parsing, the exit-code and signal policy),
``runs`` (the run folder: ownership, lock, outputs, memory check), ``session`` (the
set-up ``train`` and ``sweep`` share), ``train``, ``sweep``, ``fetch`` and ``info``
(the commands). ``examples/train.py`` runs ``train`` under its own name.
"""

from .errors import EXIT_USAGE, Interrupted, UsageError
from .main import build_parser, main, program_name, sweep_main, train_main

__all__ = [
    "main",
    "train_main",
    "sweep_main",
    "build_parser",
    "program_name",
    "UsageError",
    "Interrupted",
    "EXIT_USAGE",
]
