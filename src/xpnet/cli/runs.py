"""The run folder: made or taken over, held by a kernel lock (``flock``, released when its holder
dies, however it dies), written file by file (parameters first), released; and the memory check
a run passes first.

Problems are ``ValueError`` (one line naming the option and the fix); the command line
turns them into exit code 2.
"""

from __future__ import annotations

import datetime
import fcntl
import os
import re
import uuid

import numpy as np

from .. import signals
from ..backend import to_numpy
from ..plots import plot_accuracy, plot_loss

RUN_FILES = ("params.npz", "metrics.json", "metrics.csv", "loss.png", "accuracy.png", "checkpoint.npz")
CHECKPOINT = "checkpoint.npz"
LOCK = ".xpnet-run.lock"


def own_out(path, overwrite, extra=(), member_dirs=False, keep=False):
    """Make the run's folder its own: a new unique ``runs/<timestamp>[-N]`` by default, else
    ``path`` (refused when another run holds it, or when it holds files and not ``overwrite``).
    A lock file marks it as taken until the run ends; with ``overwrite``, an earlier run's
    files are removed first, so no old plot stays beside new metrics. ``keep`` (a resumed run):
    its files are kept, only the half-written ones a kill left are removed."""
    if keep:
        _HELD[os.path.abspath(path)] = _lock(path)
        _remove_parts(path, RUN_FILES + tuple(extra))
        return path
    if path is None:
        base = os.path.join("runs", datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
        for n in range(1, 10_000):
            path = base if n == 1 else f"{base}-{n}"
            try:
                os.makedirs(path)  # fails if it exists: two runs in one second get two folders
                break
            except FileExistsError:
                continue
    _make_out(path)
    _HELD[os.path.abspath(path)] = _lock(path)
    if not overwrite:
        try:
            _refuse_if_taken(path)
        except ValueError:
            release_out(path)
            raise
    _remove_parts(path, RUN_FILES + tuple(extra))
    for name in RUN_FILES + tuple(extra):
        try:
            os.unlink(os.path.join(path, name))
        except FileNotFoundError:
            pass
    if member_dirs:  # an earlier sweep's member folders (lr<rate>-seed<seed>/, only xpnet's files in them)
        for name in os.listdir(path):
            folder = os.path.join(path, name)
            if re.fullmatch(r"lr[^/]+-seed\d+", name) and os.path.isdir(folder):
                _remove_parts(folder, RUN_FILES)
                for f in RUN_FILES:
                    try:
                        os.unlink(os.path.join(folder, f))
                    except FileNotFoundError:
                        pass
                try:
                    os.rmdir(folder)
                except OSError:
                    pass  # it holds something else: left alone
    return path


#: run folder (absolute) -> the open lock file this process holds on it
_HELD: dict[str, int] = {}


def _lock(path):
    """An open file on ``path``'s lock, locked (``flock``): exactly one of two runs starting at once
    wins; a run that died, even by SIGKILL, holds nothing. The file names the holder's process."""
    lock = os.path.join(path, LOCK)
    while True:
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise ValueError(
                f"--out {path!r} is in use by another run (process {holder}); choose another folder"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a file its last holder removed while we waited to open it
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            return fd
        os.close(fd)


def _remove_parts(path, names):
    """Half-written files a killed run left (``.<name>.<random>.part``, see ``_io.atomic_path``)."""
    pattern = re.compile(r"\.(" + "|".join(re.escape(n) for n in names) + r")\..+\.part")
    for entry in os.listdir(path):
        if pattern.fullmatch(entry):
            try:
                os.unlink(os.path.join(path, entry))
            except FileNotFoundError:
                pass


def release_out(path):
    """Remove the lock file, then let the lock go (closing its file)."""
    fd = _HELD.pop(os.path.abspath(path), None)
    if fd is None:
        return
    try:
        os.unlink(os.path.join(path, LOCK))
    except OSError:
        pass
    os.close(fd)


def check_memory(args, train_size, inputs, eval_every, nets=1):
    """Refuse, before anything is allocated, a run that cannot fit in this machine's memory."""
    params = (inputs * args.hidden + args.hidden * 10 + args.hidden + 10) * 8
    activations = max(args.batch_size, min(train_size, 10_000)) * (args.hidden + 10) * 8
    evaluations = -(-args.iters // eval_every)
    if evaluations > 1_000_000:
        raise ValueError(
            f"--eval-every {eval_every} with --iters {args.iters} evaluates accuracy "
            f"{evaluations:,} times; use a larger --eval-every"
        )
    need = nets * (8 * params + 8 * activations + 40 * args.iters + 400 * min(evaluations, args.iters))
    have = _available_memory()
    if have is not None and need > have:
        what = f"--hidden {args.hidden}, --batch-size {args.batch_size}, --iters {args.iters}"
        if nets > 1:
            what = f"{nets:,} nets: --lr x --seeds {getattr(args, 'seeds', nets)}; " + what
        raise ValueError(
            f"this run needs about {need / 2**30:.1f} GiB of memory ({what}), more than the "
            f"{have / 2**30:.1f} GiB available; choose smaller values"
        )


def _available_memory():
    """Bytes of memory available (Linux: MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_out(path, overwrite=False):
    """Fail early, creating nothing, when ``path`` could not be made and written, or holds files."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK | os.X_OK):
        why = "is not a folder" if not os.path.isdir(probe) else "is not writable"
        raise ValueError(f"--out {path!r} cannot be written ({probe} {why}); choose another folder")
    if os.path.isdir(path) and not overwrite:
        _refuse_if_taken(path)


def _refuse_if_taken(path):
    """ValueError when the folder ``path`` holds files (an earlier run's, or anything else)."""
    # (another run's lock and write probe are its own, not files this folder holds)
    others = sorted(n for n in os.listdir(path) if n != LOCK and not n.startswith(".xpnet-write-test-"))
    if others:
        raise ValueError(
            f"--out {path!r} already holds {', '.join(others[:3])}{'...' if len(others) > 3 else ''}; "
            "choose another folder, or add --overwrite"
        )


def _make_out(path):
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".xpnet-write-test-{os.getpid()}-{uuid.uuid4().hex[:8]}")  # one per run
        with open(probe, "w") as fh:
            fh.write("ok")
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"--out {path!r} cannot be written ({exc.strerror or exc}); choose another folder") from None


def write_outputs(out, net, history, plots=True):
    """Write the run's files, parameters first (small and the most valuable); a file that cannot
    be written is reported and the others are still written. Returns ``(written, failures)``."""
    params_ok = all(bool(np.all(np.isfinite(to_numpy(a)))) for a in net.params.values())
    steps = [
        ("params.npz", lambda p: net.save(p)) if params_ok else None,
        ("metrics.json", history.save),
        ("metrics.csv", history.save_csv),
    ]
    if plots and history.loss:
        steps.append(("loss.png", lambda p: plot_loss(history, p)))
        if history.epochs:
            steps.append(("accuracy.png", lambda p: plot_accuracy(history, p)))
    with signals.held():  # a second Ctrl-C while the results are written comes after them
        return _write_all(out, steps, params_ok)


def _write_all(out, steps, params_ok):
    written, failed = [], []
    if not params_ok:
        failed.append("params.npz not written: the parameters are NaN or infinite from the start")
    for name, write in filter(None, steps):
        path = os.path.join(out, name)
        try:
            write(path)
            written.append(name)
        except OSError as exc:
            failed.append(f"{path} could not be written ({exc.strerror or exc}); the other files were kept")
    return written, failed
