"""Worker processes for sweeps that keep every promise a single run keeps.

:class:`ProcessShards` is a ``concurrent.futures.Executor`` that runs each task in a
process of its own (spawned, at most ``workers`` at once), unlike a process pool whose
one dead worker breaks every task:

* a worker that dies (killed, out of memory) fails its own task only, with
  :class:`WorkerDied` naming how it ended; the other tasks go on;
* :meth:`ProcessShards.interrupt` passes a signal on to the running tasks: in a task,
  SIGINT, SIGTERM and SIGHUP raise ``KeyboardInterrupt`` where it is (``fit_many``
  then keeps what it had recorded and returns it), so an interrupted sweep returns
  every member's results;
* a worker whose parent is gone (even killed with SIGKILL) exits within a second, so
  no orphan keeps computing; :meth:`ProcessShards.shutdown` leaves no process behind.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import pickle
import signal
import threading
import time
import traceback
from multiprocessing.reduction import ForkingPickler
from typing import Any

from .signals import STOPPING, Interrupted, stop_once

__all__ = ["ProcessShards", "WorkerDied", "TaskFailed", "Interrupted", "portable"]

#: Seconds a worker waits between looks at its parent.
PARENT_POLL = 0.25


class WorkerDied(RuntimeError):
    """The process running a task ended without a result (killed, out of memory, crashed)."""


class TaskFailed(RuntimeError):
    """A task raised an exception that cannot be rebuilt in the parent (its class takes other
    arguments than its pickle gives back); its type and text are kept in the message, and the
    worker's traceback in ``remote_traceback``."""

    def __init__(self, message: str, remote_traceback: str = "") -> None:
        super().__init__(message)
        self.remote_traceback = remote_traceback

    def __reduce__(self):  # rebuilt with both arguments
        return (TaskFailed, (str(self), self.remote_traceback))


def portable(result: tuple) -> tuple:
    """``result`` (``("ok", value)`` or ``("error", exc, traceback)``) as the parent can rebuild it:
    checked by pickling both ways here; an error that does not survive becomes :class:`TaskFailed`."""
    try:
        pickle.loads(pickle.dumps(result))
        return result
    except Exception as exc:  # noqa: BLE001 - whatever pickling raises
        if result[0] == "error":
            error, trace = result[1], result[2]
            return ("error", TaskFailed(f"{type(error).__name__}: {error}", trace), trace)
        return ("error", TaskFailed(f"the task's result could not be sent back: {type(exc).__name__}: {exc}"), "")


def how_it_ended(exitcode) -> str:
    """A process's exit code in words: ``killed by SIGKILL``, ``exit code 3``."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


def _watch_parent(parent):
    """Exit at once when the parent process is gone (it was killed: nobody will read our result)."""
    while True:
        time.sleep(PARENT_POLL)
        if os.getppid() != parent:
            os._exit(70)


def _child(conn, parent):
    """A worker: the task comes through ``conn``; signals become KeyboardInterrupt in it; the result
    (or the error) goes back the same way."""
    for sig in STOPPING:  # the first interrupts the task where it is; its clean-up is never cut short
        signal.signal(sig, stop_once)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    try:
        fn, args, kwargs = conn.recv()
        result: tuple[Any, ...] = ("ok", fn(*args, **kwargs))
    except BaseException as exc:  # sent back whole, as a process pool would
        result = ("error", exc, traceback.format_exc())
    for sig in STOPPING:  # the result is on its way: nothing stops it now
        signal.signal(sig, signal.SIG_IGN)
    conn.send(portable(result))
    conn.close()


class ProcessShards(concurrent.futures.Executor):
    """Each task in a process of its own, at most ``workers`` at once (see the module docstring).

    Args:
        workers: processes running at once.
        context: a multiprocessing start method (``"spawn"``: no state is inherited).
    """

    def __init__(self, workers: int, context: str = "spawn"):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive whole number, got {workers!r}")
        self.workers = workers
        self.ctx: Any = multiprocessing.get_context(context)
        self._slots = threading.Semaphore(workers)
        self._lock = threading.Lock()
        self._running: dict = {}  # pid -> process
        self._threads: list[threading.Thread] = []
        self._closed = self._cancel = False

    def submit(self, fn, /, *args, **kwargs):
        if self._closed:
            raise RuntimeError("cannot submit to a ProcessShards that was shut down")
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        thread = threading.Thread(target=self._run, args=(future, fn, args, kwargs), daemon=True)
        self._threads.append(thread)
        thread.start()
        return future

    def _run(self, future, fn, args, kwargs):
        with self._slots:
            if self._cancel:
                future.cancel()
                return
            if not future.set_running_or_notify_cancel():
                return
            try:
                task = ForkingPickler.dumps((fn, args, kwargs))  # a task that cannot be sent fails here
                message, proc = self._in_worker(task)
            except BaseException as exc:
                future.set_exception(exc)
                return
        if message is None:
            future.set_exception(
                WorkerDied(f"the worker process {proc.pid} ended without a result ({how_it_ended(proc.exitcode)})")
            )
        elif message[0] == "ok":
            future.set_result(message[1])
        else:
            future.set_exception(message[1])

    def _in_worker(self, task):
        """Start a worker, send it ``task`` (pickled), wait for its answer: ``(message or None, process)``.

        The task goes through a pipe of our own, after the start: CPython's spawn writes what it
        hands the child at start-up while it still holds that pipe's read end itself, so a large
        task and a child that died at start-up would block ``start()`` forever. Here a worker that
        dies at any moment closes the only other end of our pipe, and sending or reading fails."""
        here, there = self.ctx.Pipe(duplex=True)
        proc = self.ctx.Process(target=_child, args=(there, os.getpid()), daemon=True)
        try:
            proc.start()
        finally:
            there.close()
        with self._lock:
            self._running[proc.pid] = proc
        try:
            here.send_bytes(task)
            message = here.recv()
        except (EOFError, OSError):
            message = None
        except Exception as exc:  # noqa: BLE001 - an answer that cannot be rebuilt here still settles
            message = ("error", TaskFailed(f"the worker's answer could not be read: {type(exc).__name__}: {exc}"))
        finally:
            here.close()
            proc.join()
            with self._lock:
                self._running.pop(proc.pid, None)
        return message, proc

    def interrupt(self, signum=signal.SIGINT) -> None:
        """Pass ``signum`` on to every running task (each stops as on Ctrl-C and returns what it did)."""
        with self._lock:
            procs = list(self._running.values())
        for proc in procs:
            try:
                os.kill(proc.pid, signum)
            except ProcessLookupError:
                pass

    def shutdown(self, wait=True, *, cancel_futures=False):
        """No new tasks; with ``cancel_futures`` the tasks not started never start. ``wait``: until
        every started task has ended. Processes still running after are terminated."""
        self._closed = True
        self._cancel = self._cancel or cancel_futures
        if wait:
            for thread in list(self._threads):
                thread.join()
        with self._lock:
            procs = list(self._running.values())
        for proc in procs:
            proc.terminate()
            proc.join(5)
            if proc.is_alive():
                proc.kill()
