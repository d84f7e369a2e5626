"""Time to recover after ``kill -9`` of ``guardian run``, with and without static membership.

    python -m load_tests.bench_restart [--cap 120] [--rate 50] [--partitions 6] [--quick]

For each mode, on a fresh broker and fresh topic/group names, with a publisher
sending ``--rate`` demo events/s throughout:

1. start ``guardian run`` and wait until it is ready and has processed events;
2. ``kill -9`` it (its pool workers and forkserver follow it: ``service/lifeline.py``);
3. start it again at once and time, from the restart:
   - *up*: ``/healthz`` answers (the process and its control plane are up),
   - *first partition*: ``/readyz`` answers 200 (Kafka connected, at least one input
     partition assigned),
   - *processing*: ``guardian_events_consumed_total`` of the new process is above 0.

*static*: both processes run with the same ``GUARDIAN_REPLICA_ID`` (the consumer's
``group.instance.id``), so the restart takes the dead member's place. *dynamic*:
no replica id; the restart joins as a new member and waits for the dead one's
session to expire. The shipped session timeout is used (not the tests' shorter one).
A phase not reached within ``--cap`` seconds is reported as ``> cap``, never as a
number. With ``GUARDIAN_KAFKA__BOOTSTRAP_SERVERS`` set, the Kafka named there is
used instead of the local broker (real Kafka expires the session; the local
noida-db 0.2.3 never does).

Prints both modes' times and the ratio dynamic / static of time to first partition.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from load_tests import harness
from load_tests.replicas import Replica
from service.settings import KafkaSettings


async def _consumed(client: httpx.AsyncClient, port: int) -> float:
    try:
        r = await client.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
    except httpx.HTTPError:
        return 0.0
    for line in r.text.splitlines():
        if line.startswith("guardian_events_consumed_total"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _phases(replica: Replica, started: float, cap_s: float) -> dict[str, float]:
    """Seconds from ``started`` to up, first partition and processing (inf: not within cap)."""
    found = {"up": math.inf, "first_partition": math.inf, "processing": math.inf}
    async with httpx.AsyncClient() as client:
        while time.monotonic() - started < cap_s and math.isinf(found["processing"]):
            if replica.proc.poll() is not None:
                raise RuntimeError(f"replica exited: {replica.log()[-2000:]}")
            now = time.monotonic() - started
            with contextlib.suppress(httpx.HTTPError):
                if math.isinf(found["up"]):
                    r = await client.get(f"http://127.0.0.1:{replica.port}/healthz", timeout=1)
                    if r.status_code == 200:
                        found["up"] = now
                if not math.isinf(found["up"]) and math.isinf(found["first_partition"]):
                    r = await client.get(f"http://127.0.0.1:{replica.port}/readyz", timeout=1)
                    if r.status_code == 200:
                        found["first_partition"] = now
                if not math.isinf(found["first_partition"]):
                    if await _consumed(client, replica.port) > 0:
                        found["processing"] = now
            await asyncio.sleep(0.1)
    return found


def _kill9(replica: Replica) -> None:
    below = harness.descendants(replica.proc.pid)
    replica.proc.kill()
    replica.proc.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in below):
        time.sleep(0.2)
    for pid in below:  # only our own descendants, by pid, should the lifeline have failed
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def _mode(
    bootstrap: str, replica_id: str | None, rate: float, partitions: int, cap_s: float
) -> dict[str, float]:
    kafka = harness.unique_kafka(bootstrap, partitions=partitions)
    shipped = KafkaSettings()
    # The shipped session timeout (what users run), not the tests' shorter one.
    kafka["session_timeout_ms"] = shipped.session_timeout_ms
    kafka["heartbeat_interval_ms"] = shipped.heartbeat_interval_ms
    publisher = harness.demo_publisher(bootstrap, kafka, rate)
    first = Replica(kafka, replica_id)
    second: Replica | None = None
    try:
        await first.wait_ready(timeout_s=180)
        async with httpx.AsyncClient() as client:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # it has processed events before the kill
                if await _consumed(client, first.port) > 0:
                    break
                await asyncio.sleep(0.5)
        _kill9(first)
        started = time.monotonic()
        second = Replica(kafka, replica_id)
        return await _phases(second, started, cap_s)
    finally:
        if second is not None:
            _kill9(second)  # a graceful stop of a member still joining can take its own while
            second.log_path.unlink(missing_ok=True)
        first.log_path.unlink(missing_ok=True)
        publisher.send_signal(signal.SIGTERM)
        try:
            publisher.wait(timeout=10)
        except subprocess.TimeoutExpired:
            publisher.kill()
            publisher.wait()


def _show(value: float, cap_s: float) -> str:
    return f"> {cap_s:.0f}" if math.isinf(value) else f"{value:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cap", type=float, default=120.0, help="seconds to wait per phase")
    parser.add_argument("--rate", type=float, default=50.0, help="demo events/s meanwhile")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="cap 30 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.cap = 30.0
    results: dict[str, dict[str, float]] = {}
    for mode, replica_id in (("static", "bench-restart-0"), ("dynamic", None)):
        harness.progress(f"{mode} membership: start, kill -9, restart (cap {args.cap:.0f} s)")
        with harness.BenchBroker() as bootstrap:
            results[mode] = asyncio.run(
                _mode(bootstrap, replica_id, args.rate, args.partitions, args.cap)
            )
    print(f"Restart after kill -9 ({harness.broker_description()}), seconds from the restart:")
    print(f"{'mode':<10}{'up':>10}{'first partition':>18}{'processing':>12}")
    for mode, found in results.items():
        print(
            f"{mode:<10}{_show(found['up'], args.cap):>10}"
            f"{_show(found['first_partition'], args.cap):>18}"
            f"{_show(found['processing'], args.cap):>12}"
        )
    static, dynamic = results["static"]["first_partition"], results["dynamic"]["first_partition"]
    if math.isinf(dynamic):
        ratio_text = f"> {args.cap / static:.0f}x" if static > 0 else "n/a"
    else:
        ratio_text = f"{harness.ratio(dynamic, static):.1f}x"
    print(f"time to first partition, dynamic / static: {ratio_text}")
    harness.emit(
        "bench_restart",
        {
            "cap_s": args.cap,
            **{
                f"{mode}_{phase}_s": (None if math.isinf(v) else round(v, 2))
                for mode, found in results.items()
                for phase, v in found.items()
            },
            "ratio_first_partition": ratio_text,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
