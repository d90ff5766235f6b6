"""``xpnet predict``: a trained run's net on the user's own digit images, one line per image."""

from __future__ import annotations

import sys

from ..predict import classify_files, load_run


def run(args, prog):
    """Print ``file: digit (probability)`` per image (``--top K``: the K most probable); a file that
    cannot be read gets one line on stderr and the others are still classified (exit 1 then)."""
    net = load_run(args.run_dir, backend=args.backend)
    if args.top > net.output_size:
        raise ValueError(f"--top must be at most {net.output_size} (the net's classes), got {args.top}")
    failed = 0
    for name, result in classify_files(net, args.images, top=args.top):
        if isinstance(result, Exception):
            failed += 1
            print(f"{prog}: error: {getattr(result, 'strerror', None) or result}" + _where(result), file=sys.stderr)
            continue
        print(f"{name}: " + ", ".join(f"{digit} ({p:.3f})" for digit, p in result), flush=True)
    return 1 if failed else 0


def _where(exc):
    """An OSError's file, which its message lacks (ValueErrors here name theirs already)."""
    filename = getattr(exc, "filename", None)
    return f" ({filename})" if isinstance(exc, OSError) and filename else ""
