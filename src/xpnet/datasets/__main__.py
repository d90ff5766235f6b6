"""``python -m xpnet.datasets NAME``: the 0.1 spelling of ``xpnet fetch NAME``, handed on to it as a
program of its own (the data sets sit below the command line and never import it)."""

import os
import subprocess
import sys

command = [sys.executable, "-m", "xpnet", "fetch", *sys.argv[1:]]
if os.name == "posix":
    os.execv(sys.executable, command)  # the same process: its exit code and signals are the command's
raise SystemExit(subprocess.call(command))
