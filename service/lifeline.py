"""Helper processes die with Guardian: nothing outlives a ``kill -9`` of the main process.

Redaction runs in a ``ProcessPoolExecutor`` on multiprocessing's forkserver, so
the tree is Guardian (main) -> forkserver -> pool workers (and a resource
tracker beside them). Left alone, a ``kill -9`` of main (OOM killer, node
failure) orphans all of them: every worker holds the write end of the
forkserver's "alive" pipe and of its own task queue, so none of them ever sees
main go. Two mechanisms close that, each enough on its own:

- ``PR_SET_PDEATHSIG(SIGKILL)`` (Linux, via ``prctl``): the kernel kills a
  process when the *thread* that forked it exits. Workers arm it in their pool
  initializer (their parent is the single-threaded forkserver); the forkserver
  arms it when it imports :mod:`service.lifeline_preload` at its start, which
  :func:`start_forkserver` arranges only when called from main's main thread
  (a forkserver forked from a short-lived thread would be killed with that
  thread, and every pool with it). So main dies -> forkserver dies -> workers die,
  at once.
- a watch thread in each worker (:func:`exit_with`) that waits for the main
  process to end (``pidfd`` where the OS has it, else a poll every second) and
  then exits: covers other operating systems and a forkserver started
  without the preload. Once the workers are gone the forkserver sees its alive
  pipe close and exits by itself, and the resource tracker after it.

Nothing here runs at import; all of it is stdlib (the forkserver imports it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import select
import signal
import sys
import threading
from multiprocessing import forkserver

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PRELOAD_MODULE = "service.lifeline_preload"
WATCH_POLL_S = 1.0


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent thread exits.

    Returns whether it is armed (``False`` off Linux or when ``prctl`` fails;
    callers then rely on :func:`exit_with`). Never raises.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        armed: bool = libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
    if not armed:
        log.warning("prctl(PR_SET_PDEATHSIG) failed (errno %d)", ctypes.get_errno())
    return armed


def _wait_for_exit(pid: int) -> None:
    """Block until process ``pid`` has ended."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is not None:
        try:
            fd = pidfd_open(pid)
        except ProcessLookupError:
            return  # already gone
        except OSError:
            pass  # no pidfd in this kernel or sandbox: poll below
        else:
            try:
                select.select([fd], [], [])  # readable once the process has exited
            finally:
                os.close(fd)
            return
    stop = threading.Event()
    while not stop.wait(WATCH_POLL_S):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            continue  # exists, owned by someone else: cannot be ours, but keep watching


def exit_with(pid: int) -> threading.Thread:
    """Start a daemon thread that ends this process as soon as process ``pid`` has ended."""

    def watch() -> None:
        _wait_for_exit(pid)
        os._exit(1)

    thread = threading.Thread(target=watch, name=f"lifeline-{pid}", daemon=True)
    thread.start()
    return thread


def bind_worker() -> None:
    """Pool initializer step: die with the forkserver (prctl) and with Guardian (watch)."""
    die_with_parent()
    parent = multiprocessing.parent_process()  # the process that made the pool: Guardian
    if parent is not None and parent.pid is not None:
        exit_with(parent.pid)


def start_forkserver() -> None:
    """Start multiprocessing's forkserver now, bound to this process where that is safe.

    The forkserver is one per process and lives as long as it; the first caller
    decides whether it preloads :data:`PRELOAD_MODULE` (arming ``PDEATHSIG``).
    From any thread but the main one it starts without it (the workers' watch
    threads still end everything when main dies).
    """
    # "__main__" is multiprocessing's own default preload; keep it.
    preload = ["__main__"]
    if threading.current_thread() is threading.main_thread():
        preload.append(PRELOAD_MODULE)
    multiprocessing.get_context("forkserver").set_forkserver_preload(preload)
    forkserver.ensure_running()
