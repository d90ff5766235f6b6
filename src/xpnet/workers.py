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
import signal
import threading
import time
import traceback
from typing import Any

from .signals import STOPPING, Interrupted, stop_once

__all__ = ["ProcessShards", "WorkerDied", "Interrupted"]

#: Seconds a worker waits between looks at its parent.
PARENT_POLL = 0.25


class WorkerDied(RuntimeError):
    """The process running a task ended without a result (killed, out of memory, crashed)."""


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


def _child(conn, parent, fn, args, kwargs):
    """A worker: signals become KeyboardInterrupt in the task; the result (or the error) goes back."""
    for sig in STOPPING:  # the first interrupts the task where it is; its clean-up is never cut short
        signal.signal(sig, stop_once)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    try:
        result: tuple[Any, ...] = ("ok", fn(*args, **kwargs))
    except BaseException as exc:  # sent back whole, as a process pool would
        result = ("error", exc, traceback.format_exc())
    for sig in STOPPING:  # the result is on its way: nothing stops it now
        signal.signal(sig, signal.SIG_IGN)
    try:
        conn.send(result)
    except Exception as exc:  # an unpicklable result or error: say so
        conn.send(("error", RuntimeError(f"the task's result could not be sent back: {exc}"), ""))
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
            reader, writer = self.ctx.Pipe(duplex=False)
            proc = self.ctx.Process(target=_child, args=(writer, os.getpid(), fn, args, kwargs), daemon=True)
            try:
                proc.start()
            except BaseException as exc:
                future.set_exception(exc)
                return
            writer.close()
            with self._lock:
                self._running[proc.pid] = proc
            try:
                message = reader.recv()
            except (EOFError, OSError):
                message = None
            finally:
                reader.close()
                proc.join()
                with self._lock:
                    self._running.pop(proc.pid, None)
        if message is None:
            future.set_exception(
                WorkerDied(f"the worker process {proc.pid} ended without a result ({how_it_ended(proc.exitcode)})")
            )
        elif message[0] == "ok":
            future.set_result(message[1])
        else:
            future.set_exception(message[1])

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
