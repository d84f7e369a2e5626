"""Rolling restart of a fleet under load: events lost, duplicate alerts, state carried, p99.

    python -m load_tests.bench_rolling [--replicas 3] [--rate 100] [--partitions 6]
        [--baseline-s 120] [--after-s 60] [--gap-s 10] [--quick]

On a fresh broker (or the Kafka named by ``GUARDIAN_KAFKA__BOOTSTRAP_SERVERS``)
and fresh topic/group names, ``--replicas`` ``guardian run`` processes join one
consumer group, each with a stable replica id (``roll-<i>``: static membership),
checkpoints and signed config on. The demo publisher sends ``--rate`` events/s
keyed by model throughout (labels after 3 s, 1% malformed), with models chosen
so that every input partition carries one (every replica has work); drift and
bias start at 40% of the baseline phase, so their alerts fire before the roll.

1. *baseline*: ``--baseline-s`` seconds of steady load;
2. *roll*: one replica at a time: its detectors are read (``GET /v1/detectors``),
   it gets SIGTERM and is waited for, it is started again with the same replica
   id and waited for until ready (``/readyz``) and processing (events consumed);
   then the group's detectors are read again; ``--gap-s`` seconds to the next;
3. *after*: ``--after-s`` seconds of load, then the publisher stops, the bench
   waits until the group has committed the whole input, and stops the fleet.

Then every topic is read back (:mod:`load_tests.rolling_checks`) and it reports:

- **events lost**: input records neither on a sanitized topic (by ``event_id``)
  nor on the DLQ (by source partition and offset); extra sanitized copies
  (at-least-once redeliveries) are counted apart;
- **duplicate alerts**: alert fingerprints with more than one ``firing`` change
  on ``guardian.alerts`` across the fleet;
- **detector state carried over**: per restart, the detectors the replica held
  before its stop, and how many the group holds after its restart with at least
  as many samples (``n_seen``) as before (a cold start would have a handful);
- **p99 latency**: publish -> sanitized (Kafka record timestamps of the input and
  of its first sanitized copy), of events published before the roll (after a
  warm-up of a quarter of the baseline phase) and during it; the ratio
  during / before is the figure (the baseline is measured in the same run).

Everything this starts (broker, replicas, publisher) is stopped on the way out,
on failure and on Ctrl-C or SIGTERM too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from load_tests import harness
from load_tests import rolling_checks as checks
from load_tests.replicas import Replica
from service.api.auth import tokens_env_value

TOKEN = "bench-rolling-viewer-token-0123456789"
#: Checkpoints and signed config on (``make demo``'s set-up); a viewer token for the reads.
ENV = {
    "GUARDIAN_STATE__SIGNING_KEY": "rolling-checkpoint-key-0123456789",
    "GUARDIAN_CONTROL__SIGNING_KEYS": '{"rolling": "rolling-config-key-0123456789"}',
    "GUARDIAN_CONTROL__ACTIVE_SIGNING_KEY": "rolling",
    "GUARDIAN_AUTH__TOKENS": tokens_env_value([("bench", "viewer", TOKEN)]),
}


def models_covering(partitions: int) -> list[str]:
    """The demo's three models plus ``credit-risk-<n>`` ones until every partition has one.

    The demo publisher keys by model name with aiokafka's default (murmur2) partitioner.
    """
    from aiokafka.partitioner import DefaultPartitioner

    partitioner = DefaultPartitioner()
    every = list(range(partitions))
    models = ["credit-risk", "support-chat", "fraud-detect"]
    covered = {partitioner(m.encode(), every, every) for m in models}
    n = 0
    while len(covered) < partitions:
        n += 1
        candidate = f"credit-risk-{n}"
        p = partitioner(candidate.encode(), every, every)
        if p not in covered:
            models.append(candidate)
            covered.add(p)
    return models


class Fleet:
    """The bench's replicas, each with its stable id, restarted in place."""

    def __init__(self, kafka: dict[str, Any], size: int) -> None:
        self.kafka = kafka
        self.ids = [f"roll-{i}" for i in range(size)]
        self.replicas: list[Replica | None] = [None] * size

    def start(self, i: int) -> Replica:
        replica = Replica(self.kafka, self.ids[i])
        self.replicas[i] = replica
        return replica

    def live(self) -> list[Replica]:
        return [r for r in self.replicas if r is not None and r.proc.poll() is None]

    def stop(self, i: int) -> tuple[float, int | None]:
        """SIGTERM and wait (SIGKILL after 20 s); seconds and exit code. A replica that did
        not exit with 0 leaves its log in ``bench-rolling-<id>-<pid>.log`` in the temp dir."""
        replica = self.replicas[i]
        if replica is None:
            return 0.0, None
        started = time.monotonic()
        if replica.proc.poll() is None:
            replica.proc.send_signal(signal.SIGTERM)
            try:
                replica.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                replica.proc.kill()
                replica.proc.wait()
        elapsed = time.monotonic() - started
        if replica.proc.returncode != 0:
            kept = (
                Path(tempfile.gettempdir()) / f"bench-rolling-{self.ids[i]}-{replica.proc.pid}.log"
            )
            kept.write_text(replica.log())
            harness.progress(f"{self.ids[i]} exited with {replica.proc.returncode}: log in {kept}")
        replica.stop()  # removes its log file
        self.replicas[i] = None
        return elapsed, replica.proc.returncode

    def stop_all(self) -> None:
        for i in range(len(self.replicas)):
            self.stop(i)


async def held_detectors(client: httpx.AsyncClient, replica: Replica) -> dict[str, int]:
    """``id -> n_seen`` of the detectors ``replica`` holds itself (read live, not summaries)."""
    found: dict[str, int] = {}
    offset = 0
    while True:
        r = await client.get(
            f"http://127.0.0.1:{replica.port}/v1/detectors",
            params={"limit": 1000, "offset": offset},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=15,
        )
        r.raise_for_status()
        page = r.json()
        for d in page["items"]:
            if d.get("reported_at") is None:
                found[d["id"]] = int(d["state"].get("n_seen", 0))
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return found


async def group_detectors(client: httpx.AsyncClient, fleet: Fleet) -> dict[str, int]:
    merged: dict[str, int] = {}
    for replica in fleet.live():
        for det, n in (await held_detectors(client, replica)).items():
            merged[det] = max(n, merged.get(det, 0))
    return merged


async def wait_processing(
    replica: Replica, started: float, cap_s: float
) -> tuple[float, float, float]:
    """Seconds from ``started`` until ``replica`` is up (``/healthz``: its control plane
    answers), ready (``/readyz``: partitions assigned) and processing (events consumed)."""
    up = await _wait_up(replica, started, cap_s)
    await replica.wait_ready(timeout_s=cap_s)
    ready = time.monotonic() - started
    deadline = started + cap_s
    while time.monotonic() < deadline:
        if await replica.events_consumed() > 0:
            return up, ready, time.monotonic() - started
        await asyncio.sleep(0.2)
    raise TimeoutError(f"restarted replica consumed nothing within {cap_s:.0f} s")


async def _wait_up(replica: Replica, started: float, cap_s: float) -> float:
    async with httpx.AsyncClient() as client:
        while time.monotonic() - started < cap_s and replica.proc.poll() is None:
            try:
                r = await client.get(f"http://127.0.0.1:{replica.port}/healthz", timeout=1)
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    return time.monotonic() - started


async def _carried(
    client: httpx.AsyncClient, fleet: Fleet, before: dict[str, int], cap_s: float
) -> checks.Carried:
    """The group's detectors against ``before``, once all are held again (a rebalance may
    still be moving them) or after ``cap_s`` / 3."""
    deadline = time.monotonic() + cap_s / 3
    while True:
        carried = checks.carried_over(before, await group_detectors(client, fleet))
        if not carried.missing or time.monotonic() > deadline:
            return carried
        await asyncio.sleep(1.0)


async def roll(fleet: Fleet, gap_s: float, cap_s: float) -> list[dict[str, Any]]:
    """Restart every replica in turn; per restart its timings and what state it carried."""
    restarts = []
    async with httpx.AsyncClient() as client:
        for i, replica_id in enumerate(fleet.ids):
            replica = fleet.replicas[i]
            assert replica is not None
            before = await held_detectors(client, replica)
            harness.progress(f"roll: SIGTERM {replica_id} ({len(before)} detectors held)")
            stop_s, code = await asyncio.to_thread(fleet.stop, i)
            started = time.monotonic()
            up_s, ready_s, processing_s = await wait_processing(fleet.start(i), started, cap_s)
            carried = await _carried(client, fleet, before, cap_s)
            harness.progress(
                f"roll: {replica_id} back, processing after {processing_s:.1f} s; "
                f"{carried.carried}/{carried.held} detectors carried over"
            )
            restarts.append(
                {
                    "replica": replica_id,
                    "stop_s": round(stop_s, 2),
                    "exit_code": code,
                    "up_s": round(up_s, 2),
                    "ready_s": round(ready_s, 2),
                    "processing_s": round(processing_s, 2),
                    **asdict(carried),
                }
            )
            if i < len(fleet.ids) - 1:
                await asyncio.sleep(gap_s)
    return restarts


def _stop_publisher(publisher: subprocess.Popen[bytes] | None) -> None:
    if publisher is not None and publisher.poll() is None:
        publisher.send_signal(signal.SIGTERM)
        try:
            publisher.wait(timeout=20)
        except subprocess.TimeoutExpired:
            publisher.kill()
            publisher.wait()


async def run(bootstrap: str, args: argparse.Namespace) -> dict[str, Any]:
    """The whole run: fleet up, load, roll, drain, fleet down, then the topics read back."""
    kafka = harness.unique_kafka(bootstrap, partitions=args.partitions)
    topics = kafka["topics"]
    models = models_covering(args.partitions)
    drift_at = int(args.rate * args.baseline_s * 0.4)
    os.environ.update(ENV)  # Replica passes this process's environment on
    fleet = Fleet(kafka, args.replicas)
    publisher: subprocess.Popen[bytes] | None = None
    marks: dict[str, float] = {}
    try:
        for i in range(args.replicas):
            fleet.start(i)
        for replica in fleet.live():
            await replica.wait_ready(timeout_s=args.cap)
        harness.progress(f"{args.replicas} replicas ready; load {args.rate:g} events/s")
        publisher = harness.demo_publisher(
            bootstrap,
            kafka,
            args.rate,
            *("--models", ",".join(models), "--label-delay", "3"),
            *("--drift-at", str(drift_at), "--bias-at", str(drift_at)),
            *("--malformed-fraction", "0.01"),
        )
        marks["published"] = time.time()
        await asyncio.sleep(args.baseline_s)
        marks["roll"] = time.time()
        restarts = await roll(fleet, args.gap_s, args.cap)
        marks["rolled"] = time.time()
        await asyncio.sleep(args.after_s)
        _stop_publisher(publisher)
        marks["stopped"] = time.time()
        total = await harness.count_messages(bootstrap, [topics["events"]])
        harness.progress(f"publisher stopped after {total} records; waiting for the group")
        async with harness.CommitWatcher(bootstrap, kafka["group_id"], topics["events"]) as w:
            await w.wait_for(total, timeout_s=args.cap * 3, interval_s=0.5)
    finally:
        _stop_publisher(publisher)
        await asyncio.to_thread(fleet.stop_all)
    sanitized = await checks.topics_with_prefix(bootstrap, topics["sanitized_prefix"])
    read = await checks.read_topics(
        bootstrap, [topics["events"], topics["dlq"], topics["alerts"], *sanitized]
    )
    return summarise(read, topics, sanitized, marks, restarts, args)


def summarise(
    read: dict[str, list[Any]],
    topics: dict[str, Any],
    sanitized: list[str],
    marks: dict[str, float],
    restarts: list[dict[str, Any]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    inputs = read[topics["events"]]
    outputs = [r for t in sanitized for r in read[t]]
    acc = checks.account(inputs, outputs, read[topics["dlq"]], topics["events"])
    warm_up = args.baseline_s / 4
    windows = {
        "before": (marks["published"] + warm_up, marks["roll"]),
        "during": (marks["roll"], marks["rolled"]),
        "after": (marks["rolled"], marks["stopped"]),
    }
    latency = {}
    for name, (start, end) in windows.items():
        values = checks.latencies_ms(inputs, acc.first_output_ms, start * 1000, end * 1000)
        latency[name] = {
            "events": len(values),
            "p50_ms": round(harness.percentile(values, 50), 1),
            "p99_ms": round(harness.percentile(values, 99), 1),
            "max_ms": round(max(values), 1) if values else None,
        }
    fired = checks.firing(read[topics["alerts"]])
    duplicates = checks.duplicate_alerts(fired)
    return {
        "replicas": args.replicas,
        "rate": args.rate,
        "partitions": args.partitions,
        "roll_s": round(marks["rolled"] - marks["roll"], 1),
        "published": acc.published,
        "sanitized": acc.sanitized,
        "dead_lettered": acc.dead_lettered,
        "lost": len(acc.lost),
        "lost_examples": acc.lost[:10],
        "redelivered_copies": acc.duplicated,
        "alerts_fired": len(fired),
        "alert_fingerprints": len({f.fingerprint for f in fired}),
        "duplicate_alerts": sum(len(fs) - 1 for fs in duplicates.values()),
        "duplicated": [
            {
                "alertname": fs[0].alertname,
                "labels": {k: v for k, v in fs[0].labels.items() if k not in ("source",)},
                "fired_at_s": [round(f.timestamp_ms / 1000 - marks["roll"], 1) for f in fs],
            }
            for fs in duplicates.values()
        ],
        "fired": [
            {
                "alertname": f.alertname,
                "model": f.labels.get("model"),
                "at_s_from_roll": round(f.timestamp_ms / 1000 - marks["roll"], 1),
            }
            for f in fired
        ],
        "restarts": restarts,
        "detectors_carried": sum(r["carried"] for r in restarts),
        "detectors_held": sum(r["held"] for r in restarts),
        "latency": latency,
        "p99_ratio_during_over_before": round(
            harness.ratio(latency["during"]["p99_ms"], latency["before"]["p99_ms"]), 2
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100.0, help="demo events/s")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--baseline-s", type=float, default=120.0, help="load before the roll")
    parser.add_argument("--after-s", type=float, default=60.0, help="load after the roll")
    parser.add_argument("--gap-s", type=float, default=10.0, help="pause between restarts")
    parser.add_argument("--cap", type=float, default=180.0, help="seconds to wait for a phase")
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 2 replicas, 2 partitions, ~1 minute"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.replicas, args.partitions, args.rate = 2, 2, 20.0
        args.baseline_s, args.after_s, args.gap_s = 15.0, 5.0, 0.0
    # SIGTERM unwinds like Ctrl-C: every finally below stops what it started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    load_start = os.getloadavg()[0]
    with harness.BenchBroker() as bootstrap:
        result = asyncio.run(run(bootstrap, args))
    checks.report(result, load_start)
    harness.emit("bench_rolling", {**result, "load_average_start": round(load_start, 2)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
