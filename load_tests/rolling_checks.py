"""What ``bench_rolling`` reads back from the topics after a run, the figures it draws, its table.

Everything is counted from the topics themselves, exactly, after the group has
committed the whole input: every input record (partition, offset) must come out
either as a sanitized record with its ``event_id`` or as a DLQ record naming its
``source`` partition and offset; every ``firing`` change on ``guardian.alerts``
is one notification, so a fingerprint that fires twice in a run (the shipped
rules keep a resolved drift alert closed for an hour) is a duplicate.
The functions below take any records with ``partition``, ``offset``,
``timestamp`` (ms) and ``value`` (aiokafka's ``ConsumerRecord`` or the tests'
stand-ins).
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from load_tests import harness


class Rec(Protocol):
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def value(self) -> bytes | None: ...


async def read_topics(bootstrap: str, topics: Sequence[str]) -> dict[str, list[Any]]:
    """Every record of ``topics``, from the beginning to the end offsets read at the start."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = await harness.topic_partitions(consumer, topics)
        found: dict[str, list[Any]] = {t: [] for t in topics}
        if not tps:
            return found
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        todo = {tp for tp in tps if end[tp] > 0}
        while todo:
            batch = await consumer.getmany(*todo, timeout_ms=1000, max_records=5000)
            for tp, records in batch.items():
                found[tp.topic].extend(r for r in records if r.offset < end[tp])
            todo = {tp for tp in todo if await consumer.position(tp) < end[tp]}
        return found
    finally:
        await consumer.stop()


async def topics_with_prefix(bootstrap: str, prefix: str) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return sorted(t for t in await admin.list_topics() if t.startswith(prefix))
    finally:
        await admin.close()


def event_id(value: bytes | None) -> str | None:
    """The ``event_id`` of a JSON event, or None for anything else (malformed input)."""
    if value is None:
        return None
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    found = data.get("event_id") if isinstance(data, dict) else None
    return found if isinstance(found, str) else None


@dataclass
class Accounting:
    """Input records against what came out of the fleet."""

    published: int
    sanitized: int  # input records found on a sanitized topic (by event_id)
    dead_lettered: int  # input records found on the DLQ (by source partition and offset)
    lost: list[tuple[int, int]]  # (partition, offset) of input records found nowhere
    duplicated: int  # extra sanitized copies (at-least-once redeliveries), not a loss
    first_output_ms: dict[str, int] = field(default_factory=dict)  # event_id -> earliest copy


def account(
    inputs: Iterable[Rec], sanitized: Iterable[Rec], dlq: Iterable[Rec], events_topic: str
) -> Accounting:
    first: dict[str, int] = {}
    copies: Counter[str] = Counter()
    for r in sanitized:
        eid = event_id(r.value)
        if eid is None:
            continue
        copies[eid] += 1
        first[eid] = min(first.get(eid, r.timestamp), r.timestamp)
    dead: set[tuple[int, int]] = set()
    for r in dlq:
        source = orjson.loads(r.value or b"{}").get("source") or {}
        if source.get("topic") == events_topic:
            dead.add((int(source["partition"]), int(source["offset"])))
    published = out = in_dlq = 0
    lost: list[tuple[int, int]] = []
    for r in inputs:
        published += 1
        eid = event_id(r.value)
        if eid is not None and eid in first:
            out += 1
        elif (r.partition, r.offset) in dead:
            in_dlq += 1
        else:
            lost.append((r.partition, r.offset))
    duplicated = sum(n - 1 for n in copies.values())
    return Accounting(published, out, in_dlq, lost, duplicated, first)


def latencies_ms(
    inputs: Iterable[Rec], first_output_ms: dict[str, int], start_ms: float, end_ms: float
) -> list[float]:
    """Publish -> first sanitized copy (record timestamps) of inputs published in [start, end)."""
    found = []
    for r in inputs:
        if not start_ms <= r.timestamp < end_ms:
            continue
        eid = event_id(r.value)
        if eid is not None and eid in first_output_ms:
            found.append(float(first_output_ms[eid] - r.timestamp))
    return found


@dataclass(frozen=True)
class FiredAlert:
    fingerprint: str
    alertname: str
    labels: dict[str, str]
    alert_id: str
    timestamp_ms: int


def firing(alerts: Iterable[Rec]) -> list[FiredAlert]:
    """Every ``firing`` change written to ``guardian.alerts``, in record order."""
    fired = []
    for r in alerts:
        change = orjson.loads(r.value or b"{}")
        if change.get("event") != "firing":
            continue
        alert = change["alert"]
        fired.append(
            FiredAlert(
                alert["fingerprint"], alert["alertname"], alert["labels"], alert["id"], r.timestamp
            )
        )
    return fired


def duplicate_alerts(fired: Sequence[FiredAlert]) -> dict[str, list[FiredAlert]]:
    """Fingerprints that fired more than once, with every one of their firings."""
    by_fp: dict[str, list[FiredAlert]] = defaultdict(list)
    for f in fired:
        by_fp[f.fingerprint].append(f)
    return {fp: fs for fp, fs in by_fp.items() if len(fs) > 1}


@dataclass(frozen=True)
class Carried:
    """One restart: the restarted replica's detectors before its stop and after its restart."""

    held: int  # detectors the replica held before its stop
    carried: int  # found after the restart with n_seen >= before
    behind: dict[str, list[int]]  # id -> [n_seen before, after] where after < before
    missing: list[str]  # held by nobody after the restart


def carried_over(before: dict[str, int], after: dict[str, int]) -> Carried:
    """``before``: detector id -> n_seen the replica held; ``after``: the group's, after.

    A cold start shows as ``behind`` with a handful of samples after; a restore from a
    checkpoint older than the ``before`` reading as ``behind`` by a few seconds' worth.
    """
    behind = {d: [n, after[d]] for d, n in sorted(before.items()) if d in after and after[d] < n}
    missing = sorted(d for d in before if d not in after)
    return Carried(len(before), len(before) - len(behind) - len(missing), behind, missing)


def report(result: dict[str, Any], load_start: float) -> None:
    print(
        f"Rolling restart of {result['replicas']} replicas under {result['rate']:g} events/s "
        f"({result['partitions']} partitions; {harness.broker_description()})"
    )
    print(f"load average: {load_start:.1f} at start, {os.getloadavg()[0]:.1f} at the end")
    print(
        f"{'replica':<9}{'stop (s)':>9}{'exit':>6}{'up (s)':>8}{'ready (s)':>11}"
        f"{'processing (s)':>16}"
        f"{'detectors':>11}{'carried':>9}{'behind':>8}{'missing':>9}"
    )
    for r in result["restarts"]:
        print(
            f"{r['replica']:<9}{r['stop_s']:>9.1f}{r['exit_code']!s:>6}{r['up_s']:>8.1f}"
            f"{r['ready_s']:>11.1f}"
            f"{r['processing_s']:>16.1f}{r['held']:>11}{r['carried']:>9}"
            f"{len(r['behind']):>8}{len(r['missing']):>9}"
        )
    for r in result["restarts"]:
        if r["behind"]:
            pairs = sorted(r["behind"].values(), key=lambda p: p[1] - p[0])
            print(
                f"  {r['replica']}: {len(pairs)} behind, n_seen before -> after from "
                f"{pairs[0][0]} -> {pairs[0][1]} to {pairs[-1][0]} -> {pairs[-1][1]}"
            )
    print(f"roll took {result['roll_s']:.0f} s")
    print(
        f"events: published {result['published']}, sanitized {result['sanitized']}, "
        f"DLQ {result['dead_lettered']}, LOST {result['lost']} "
        f"(redelivered copies, not lost: {result['redelivered_copies']})"
    )
    print(
        f"alerts: {result['alerts_fired']} firing changes over {result['alert_fingerprints']} "
        f"fingerprints, DUPLICATES {result['duplicate_alerts']}"
    )
    for f in result["fired"]:
        print(f"  fired: {f['alertname']} {f['model']} at {f['at_s_from_roll']:+.0f} s (roll: 0)")
    for d in result["duplicated"]:
        print(f"  duplicate: {d['alertname']} {d['labels']} fired at {d['fired_at_s']} s (roll=0)")
    print(
        f"detector state carried over: {result['detectors_carried']} of "
        f"{result['detectors_held']} detectors (n_seen after restart >= before stop)"
    )
    print("publish -> sanitized latency (ms):")
    print(f"{'window':<8}{'events':>8}{'p50':>10}{'p99':>10}{'max':>10}")
    for name, lat in result["latency"].items():
        print(
            f"{name:<8}{lat['events']:>8}{lat['p50_ms']:>10.1f}{lat['p99_ms']:>10.1f}"
            f"{lat['max_ms'] if lat['max_ms'] is not None else float('nan'):>10.1f}"
        )
    print(f"p99 during the roll / before it: {result['p99_ratio_during_over_before']:.2f}x")
