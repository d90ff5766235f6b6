"""``python -m xpnet``: the ``xpnet`` command."""

from .cli import main

raise SystemExit(main())
