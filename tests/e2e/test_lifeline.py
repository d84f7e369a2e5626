"""Nothing outlives Guardian, and the test run notices any process that outlives it (issue 19.1)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.kafka_helpers import ROOT, make_settings, process_log, start_guardian_process, wait_ready
from tests.process_guard import Proc, command_line, descendants, read_proc, still_running

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def wait_gone(known: dict[int, Proc], timeout_s: float) -> dict[int, Proc]:
    """Those of ``known`` still running after ``timeout_s`` (returns early once none is)."""
    deadline = time.monotonic() + timeout_s
    alive = still_running(known)
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = still_running(known)
    return alive


def kill_all(procs: dict[int, Proc]) -> None:
    for pid in still_running(procs):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.mark.integration
@pytest.mark.slow
async def test_kill_9_of_guardian_leaves_no_process_behind(kafka_bootstrap: str) -> None:
    settings = make_settings(kafka_bootstrap)
    # A stable replica id (static membership): what every test that kills Guardian uses, so a
    # restart would not wait for the dead member's session on the local broker.
    proc = start_guardian_process(
        settings, GUARDIAN_REPLICA_ID="lifeline-0", GUARDIAN_REDACTION__WORKERS="2"
    )
    tree: dict[int, Proc] = {}
    try:
        await wait_ready(settings.http.port, timeout_s=90)
        tree = descendants(proc.pid)
        forkservers = [
            pid for pid in tree if "multiprocessing.forkserver" in command_line(pid, 4096)
        ]
        assert forkservers, f"no forkserver under Guardian: {[command_line(p) for p in tree]}"
        workers = [pid for pid, p in tree.items() if p.ppid == forkservers[0]]
        assert len(workers) >= 2, "the redaction pool is not running"
        proc.kill()  # SIGKILL of the main process only
        proc.wait(timeout=10)
        left = {pid: command_line(pid) for pid in wait_gone(tree, timeout_s=10)}
    except BaseException:
        print(process_log(proc)[-3000:])
        raise
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_all(tree)
    assert not left, left


CHAIN = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {root!r})
    from service.lifeline import die_with_parent, exit_with
    role = sys.argv[1]
    if role == "parent":
        child = __import__("subprocess").Popen([sys.executable, __file__, sys.argv[2]])
        print(child.pid, flush=True)
        time.sleep(300)
    elif role == "pdeathsig":
        assert die_with_parent()
        time.sleep(300)
    else:  # watch: wait for the grandparent (this child's parent) to go
        exit_with(os.getppid())
        time.sleep(300)
    """
)


@pytest.mark.parametrize("mechanism", ["pdeathsig", "watch"])
def test_a_child_bound_to_its_parent_dies_with_it(tmp_path: Path, mechanism: str) -> None:
    script = tmp_path / "chain.py"
    script.write_text(CHAIN.format(root=str(ROOT)))
    parent = subprocess.Popen(
        [sys.executable, str(script), "parent", mechanism], stdout=subprocess.PIPE, text=True
    )
    child: dict[int, Proc] = {}
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        time.sleep(1.0)  # let the child arm its lifeline (an import and one call)
        found = read_proc(child_pid)
        assert found is not None and found.alive
        child = {child_pid: found}
        parent.kill()
        parent.wait(timeout=10)
        left = wait_gone(child, timeout_s=10)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
        kill_all(child)
    assert not left


POOL = textwrap.dedent(
    """
    import multiprocessing, os, sys, threading, time
    from concurrent.futures import ProcessPoolExecutor
    sys.path.insert(0, {root!r})
    from service.lifeline import bind_worker, start_forkserver

    def pid(_):
        return os.getpid()

    def make_pool():
        start_forkserver()
        pool = ProcessPoolExecutor(
            2, mp_context=multiprocessing.get_context("forkserver"), initializer=bind_worker
        )
        while len(set(pool.map(pid, range(8)))) < 2:
            pass
        return pool

    if __name__ == "__main__":
        if sys.argv[1] == "thread":
            # A pool made from a thread that then ends: the forkserver has no PDEATHSIG
            # (it would die with that thread); the workers' watch threads must do it.
            pools = []
            maker = threading.Thread(target=lambda: pools.append(make_pool()))
            maker.start()
            maker.join()
            pools[0].submit(pid, 0).result()  # still usable after the thread ended
        else:
            pools = [make_pool()]
        print("ready", flush=True)
        time.sleep(300)
    """
)


@pytest.mark.parametrize("made_in", ["main", "thread"])
def test_a_pool_and_its_forkserver_die_with_their_process(tmp_path: Path, made_in: str) -> None:
    script = tmp_path / "pool.py"
    script.write_text(POOL.format(root=str(ROOT)))
    main = subprocess.Popen(
        [sys.executable, str(script), made_in], stdout=subprocess.PIPE, text=True
    )
    tree: dict[int, Proc] = {}
    try:
        assert main.stdout is not None
        assert main.stdout.readline().strip() == "ready"
        tree = descendants(main.pid)
        assert len(tree) >= 4  # forkserver, resource tracker, two workers
        main.kill()
        main.wait(timeout=10)
        left = {pid: command_line(pid) for pid in wait_gone(tree, timeout_s=10)}
    finally:
        if main.poll() is None:
            main.kill()
            main.wait()
        if main.stdout is not None:
            main.stdout.close()
        kill_all(tree)
    assert not left, left


LEAKY_TESTS = textwrap.dedent(
    """
    import subprocess

    def test_leaks_a_child(tmp_path):
        proc = subprocess.Popen(["sleep", "300"])
        (tmp_path.parent.parent / "pids").open("a").write(f"{proc.pid}\\n")

    def test_leaks_an_orphan(tmp_path):
        out = subprocess.run(
            ["sh", "-c", "sleep 301 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True
        )
        (tmp_path.parent.parent / "pids").open("a").write(out.stdout)
    """
)


def test_the_run_fails_when_a_process_outlives_it(tmp_path: Path) -> None:
    (tmp_path / "test_leaky.py").write_text(LEAKY_TESTS)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.process_guard",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            str(tmp_path / "base"),
            "-q",
            str(tmp_path / "test_leaky.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    pids = [int(line) for line in (tmp_path / "pids").read_text().split()]
    leaked = {pid: p for pid in pids if (p := read_proc(pid)) is not None}
    kill_all(leaked)
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout + run.stderr
    assert "2 passed" in run.stdout
    assert "2 process(es) started by this test run outlived it" in run.stdout
    assert len(pids) == 2 and not still_running(leaked)
