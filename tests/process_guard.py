"""The test run fails if a process it started outlives it (issue 19.1).

A process "started by the run" is found two ways, read from ``/proc``:

- it descends from the pytest process (still attached to its tree), or
- it carries this run's marker in its environment (:data:`MARKER`, set at
  session start and inherited by every subprocess, and by their children, even
  once they are orphaned and re-parented to init -- the case that matters).

At session finish (after every fixture is torn down) the survivors get a grace
period to exit by themselves; whatever is left is killed, listed, and the run's
exit status is set to failed. The pytest process's own multiprocessing helpers
(forkserver, resource tracker and their children) are not counted: they end
with pytest itself (see :mod:`service.lifeline`).

Linux only (``/proc``); elsewhere the check is skipped.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

MARKER = "INFERENCE_GUARDIAN_TEST_RUN"
GRACE_S = 10.0
_MP_HELPERS = (b"from multiprocessing.forkserver import", b"from multiprocessing.resource_tracker")
PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class Proc:
    """One process: pid, parent, start time (with pid: an identity that survives pid reuse)."""

    pid: int
    ppid: int
    start: int
    state: str

    @property
    def alive(self) -> bool:
        return self.state not in ("Z", "X")


def read_proc(pid: int) -> Proc | None:
    """The process ``pid`` from ``/proc``, or None if it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ..." -- comm may contain spaces and parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    return Proc(pid, int(fields[1]), int(fields[19]), fields[0])


def all_procs() -> dict[int, Proc]:
    found: dict[int, Proc] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            proc = read_proc(int(entry.name))
            if proc is not None:
                found[proc.pid] = proc
    return found


def descendants(root: int, procs: dict[int, Proc] | None = None) -> dict[int, Proc]:
    """Every live process below ``root`` in the process tree (not ``root`` itself)."""
    procs = all_procs() if procs is None else procs
    children: dict[int, list[int]] = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    out: dict[int, Proc] = {}
    stack = list(children.get(root, ()))
    while stack:
        pid = stack.pop()
        if pid in out:
            continue
        out[pid] = procs[pid]
        stack.extend(children.get(pid, ()))
    return {pid: p for pid, p in out.items() if p.alive}


def still_running(known: dict[int, Proc]) -> dict[int, Proc]:
    """Those of ``known`` that are still the same, live processes."""
    out = {}
    for pid, before in known.items():
        now = read_proc(pid)
        if now is not None and now.start == before.start and now.alive:
            out[pid] = now
    return out


def command_line(pid: int, limit: int = 160) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()[:limit]


def _marked(pid: int, marker: bytes) -> bool:
    try:
        return marker in (PROC / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return False


def _own_helpers(me: int, procs: dict[int, Proc]) -> set[int]:
    """The pytest process's multiprocessing forkserver and resource tracker, and their trees."""
    helpers: set[int] = set()
    for proc in procs.values():
        if proc.ppid != me:
            continue
        try:
            cmdline = (PROC / str(proc.pid) / "cmdline").read_bytes()
        except OSError:
            continue
        if any(helper in cmdline for helper in _MP_HELPERS):
            helpers.add(proc.pid)
            helpers.update(descendants(proc.pid, procs))
    return helpers


def started_by_run(me: int, marker: bytes) -> dict[int, Proc]:
    """Live processes this run started (attached to its tree or marked), minus its own helpers."""
    procs = all_procs()
    found = descendants(me, procs)
    for pid, proc in procs.items():
        if pid != me and proc.alive and pid not in found and _marked(pid, marker):
            found[pid] = proc
    for pid in _own_helpers(me, procs):
        found.pop(pid, None)
    return found


# -- pytest hooks (imported by tests/conftest.py) ---------------------------------------------


def pytest_sessionstart(session: pytest.Session) -> None:
    if not PROC.is_dir():
        return
    os.environ[MARKER] = f"{os.getpid()}-{uuid.uuid4().hex}"


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    mark = os.environ.get(MARKER)
    if not mark or not PROC.is_dir():
        return
    marker = f"{MARKER}={mark}".encode()
    me = os.getpid()
    deadline = time.monotonic() + GRACE_S
    survivors = started_by_run(me, marker)
    while survivors and time.monotonic() < deadline:
        time.sleep(0.2)
        survivors = started_by_run(me, marker)
    if not survivors:
        return
    lines = [f"  pid {pid}: {command_line(pid)}" for pid in sorted(survivors)]
    for pid in survivors:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    _reap(set(survivors))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = (
        f"{len(survivors)} process(es) started by this test run outlived it "
        f"(killed now):\n" + "\n".join(lines)
    )
    if reporter is not None:
        reporter.write_line("")
        reporter.write_line("ERROR: " + message, red=True, bold=True)
    if session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _reap(pids: set[int], timeout_s: float = 3.0) -> None:
    """Collect the exit status of killed processes that are our own children (no zombies)."""
    deadline = time.monotonic() + timeout_s
    while pids and time.monotonic() < deadline:
        for pid in list(pids):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid  # not our child: init reaps it
            if done:
                pids.discard(pid)
        time.sleep(0.05)
