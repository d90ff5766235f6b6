"""Shared command-line bits of the chapter's figure scripts."""

import argparse
import os
import sys


def output_path(default_name, description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", default=os.path.join("figures", default_name), help=f"PNG file (default figures/{default_name})")
    p.add_argument("--backend", default=None, help="xpnet backend (default: XPNET_BACKEND, else numpy)")
    args = p.parse_args()
    folder = os.path.dirname(os.path.abspath(args.out))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        print(f"{p.prog}: error: --out {args.out!r} cannot be written ({exc.strerror}); choose another path",
              file=sys.stderr)
        sys.exit(2)
    if args.backend:
        import xpnet
        try:
            xpnet.set_backend(args.backend)
        except (ValueError, xpnet.BackendError) as exc:
            print(f"{p.prog}: error: {exc}", file=sys.stderr)
            sys.exit(2)
    return args.out
