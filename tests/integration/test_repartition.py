"""One model's events over 6 partitions, two replicas: each model whole, on one owner (issue 19).

Publishers that do not key by model name with murmur2 (unkeyed events; kcat
keying each event by its id, hashed with librdkafka's CRC32) spread one model
over every input partition, so over both replicas. With ``kafka.repartition:
model`` (the default) the detect stage reads the repartition topic keyed by
model: exactly one replica holds the model's detectors and fairness window,
and what they learnt equals what a single replica learns from the same stream
(at-least-once, and exactly-once: repartition records and every offset in one
transaction).
With ``off`` the same stream splits the model (the failure this guards against).

Order-free comparisons only: the phases are processed one after the other, so
detections (a 10-sigma shift in phase 2) and counts do not depend on how the
partitions interleave; the fairness window holds every event and is evaluated
once at the end. Waits poll with deadlines; nothing asserts on timing.
"""

from __future__ import annotations

import asyncio
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.api_helpers import api_settings, client_for, eventually, headers
from tests.integration.test_producers_codecs import kcat_publish
from tests.kafka_helpers import free_port, produce

MODEL = "credit-risk"
PHASE = 400
HAND_SET = Path(__file__).resolve().parents[2] / "config/presets/hand_set.yaml"
CONSUMED = "guardian_events_consumed_total"
FAST = {"heartbeat_interval_s": 0.5, "stale_after_s": 60.0}


def _events(phase: int, seed: int = 19) -> list[dict[str, Any]]:
    rng = random.Random(seed * 10 + phase)
    out = []
    for i in range(PHASE):
        gender = rng.choice(["f", "m"])
        prediction = int(rng.random() < (0.3 if gender == "f" else 0.6))
        out.append(
            {
                "schema_version": 1,
                "event_id": f"ev-{phase}-{i:05d}",
                "timestamp": f"2026-11-30T12:{phase * 20 + i // 60:02d}:{i % 60:02d}.000Z",
                "model": {"name": MODEL, "version": "3.2.0"},
                "inputs": {
                    "features": {
                        "age": rng.gauss(40.0 if phase == 0 else 70.0, 3.0),
                        "country": rng.choice(["DE", "FR", "IT"]),
                    }
                },
                "outputs": {"prediction": prediction, "score": 0.5},
                "subject": {"protected": {"gender": gender, "age_band": "30-39"}},
            }
        )
    return out


def _labels(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rng = random.Random(7)
    return [
        {
            "schema_version": 1,
            "event_id": e["event_id"],
            "model": e["model"],
            "label": e["outputs"]["prediction"] if rng.random() < 0.8 else 1,
            "timestamp": e["timestamp"],
        }
        for e in events
    ]


Publish = Callable[[str, str, list[dict[str, Any]]], Any]


async def _unkeyed(bootstrap: str, topic: str, docs: list[dict[str, Any]]) -> None:
    await produce(bootstrap, topic, [orjson.dumps(d) for d in docs])  # key None: any partition


def _kcat(tmp: Path) -> Publish:
    async def publish(bootstrap: str, topic: str, docs: list[dict[str, Any]]) -> None:
        # Keyed by event id, hashed by librdkafka's CRC32: one model over every partition.
        lines = [d["event_id"].encode() + b"\t" + orjson.dumps(d) for d in docs]
        await asyncio.to_thread(kcat_publish, bootstrap, topic, lines, tmp, "-K", "\t")

    return publish


def _settings(bootstrap: str, repartition: str, replica: str, delivery: str) -> Any:
    s = api_settings(bootstrap, fleet=FAST, replica_id=replica)
    topics = s.kafka.topics.model_copy(update={"partitions": 6})
    update = {"topics": topics, "repartition": repartition, "delivery": delivery}
    kafka = s.kafka.model_copy(update=update)
    # The hand-set ADWIN preset: it detects the shift within this short stream (the budgeted
    # default needs a 2,200-value reference first); the comparison does not depend on the kind.
    detectors = s.detectors.model_copy(update={"specs_file": HAND_SET})
    return s.model_copy(update={"kafka": kafka, "detectors": detectors})


def _seen(guardians: list[Any], feature: str) -> int:
    return sum(
        int(d.state["n_seen"])
        for g in guardians
        for d in g.detectors.list_detectors(model=MODEL, feature=feature)
    )


async def _run(guardians: list[Any], bootstrap: str, publish: Publish) -> None:
    """Both phases and the labels, each processed by the detectors before the next is sent."""
    t = guardians[0].settings.kafka.topics
    events = []
    for phase in (0, 1):
        docs = _events(phase)
        events += docs
        await publish(bootstrap, t.events, docs)

        async def learnt(n: int = len(events)) -> bool:
            return _seen(guardians, "age") >= n

        await eventually(learnt, timeout_s=180)
    await publish(bootstrap, t.labels, _labels(events))

    async def joined() -> bool:
        return _seen(guardians, "error_rate") >= len(events)

    await eventually(joined, timeout_s=180)


def _learnt(guardians: list[Any]) -> dict[str, tuple[int, int]]:
    """Detector id -> (values seen, detections), over the group (ids must not repeat)."""
    out: dict[str, tuple[int, int]] = {}
    for g in guardians:
        for d in g.detectors.list_detectors(model=MODEL):
            assert d.id not in out, f"{d.id} held by two replicas"
            out[d.id] = (int(d.state["n_seen"]), int(d.state["n_detections"]))
    return out


def _fairness(guardian: Any) -> dict[str, Any]:
    """Each metric's value and each group's counts (live: the window holds every event)."""
    snap = guardian.fairness.snapshot(MODEL)
    assert snap is not None
    return {
        "events": snap["events"],
        **{
            name: (
                {metric: m["value"] for metric, m in a["metrics"].items()},
                {group: g["counts"] for group, g in a["groups"].items()},
            )
            for name, a in snap["attributes"].items()
        },
    }


async def _start_group(
    bootstrap: str, guardian_factory: Any, repartition: str, n: int, delivery: str = "at_least_once"
) -> list[Any]:
    base = _settings(bootstrap, repartition, "replica-0", delivery)
    group = []
    for i in range(n):
        http = base.http.model_copy(update={"port": free_port()})
        settings = base.model_copy(update={"replica_id": f"replica-{i}", "http": http})
        group.append(await guardian_factory(settings))

    async def all_assigned() -> bool:
        owned = [g.worker.assignment.owned for g in group]
        events = base.kafka.topics.events
        # The group settled: every replica owns input partitions, all 6 are owned once.
        return all(any(tp.topic == events for tp in o) for o in owned) and (
            sum(1 for o in owned for tp in o if tp.topic == events) == 6
        )

    await eventually(all_assigned, timeout_s=120)
    return group


async def _holders(guardian: Any) -> set[str]:
    async with client_for(guardian.app) as client:
        r = await client.get("/v1/detectors", params={"model": MODEL}, headers=headers("viewer"))
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        ids = [d["id"] for d in items]
        assert len(ids) == len(set(ids))
        return {d["replica"] for d in items}


@pytest.mark.parametrize(
    ("publisher", "delivery"),
    [("unkeyed", "at_least_once"), ("kcat", "at_least_once"), ("unkeyed", "exactly_once")],
)
async def test_one_owner_per_model_and_the_same_results_as_one_replica(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, guardian_factory, tmp_path: Path, publisher: str, delivery: str
) -> None:
    if publisher == "kcat" and shutil.which("kcat") is None:
        pytest.skip("kcat missing (make tools)")
    publish: Publish = _unkeyed if publisher == "unkeyed" else _kcat(tmp_path)

    # The reference: one replica, no repartition, the same stream.
    (single,) = await _start_group(kafka_bootstrap, guardian_factory, "off", 1, delivery)
    await _run([single], kafka_bootstrap, publish)
    expected, expected_fairness = _learnt([single]), _fairness(single)
    assert expected[f"{MODEL}/3.2.0/age/adwin"] == (2 * PHASE, 1)

    group = await _start_group(kafka_bootstrap, guardian_factory, "model", 2, delivery)
    await _run(group, kafka_bootstrap, publish)
    holders = [g for g in group if g.detectors.list_detectors(model=MODEL)]
    assert len(holders) == 1, "one replica holds the model's detectors"
    assert [g for g in group if g.fairness.snapshot(MODEL) is not None] == holders
    # The input partitions were shared: both replicas redacted part of the model's stream.
    consumed = [g.metrics.registry.get_sample_value(CONSUMED) for g in group]
    assert all(c and c > 0 for c in consumed) and sum(consumed) == 2 * PHASE
    assert _learnt(group) == expected
    assert _fairness(holders[0]) == expected_fairness

    # Through the fleet view, either replica lists every detector once, with the one holder.
    holder_id = holders[0].settings.replica_id

    async def fleet_shows_one_holder() -> bool:
        return all([await _holders(g) == {holder_id} for g in group])

    await eventually(fleet_shows_one_holder, timeout_s=60)


async def test_without_repartition_the_same_stream_splits_the_model(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, guardian_factory
) -> None:
    group = await _start_group(kafka_bootstrap, guardian_factory, "off", 2)
    t = group[0].settings.kafka.topics
    await _unkeyed(kafka_bootstrap, t.events, _events(0))

    async def learnt() -> bool:
        return _seen(group, "age") >= PHASE

    await eventually(learnt, timeout_s=180)
    holders = [g for g in group if g.detectors.list_detectors(model=MODEL)]
    assert len(holders) == 2, "unkeyed events reach both replicas' detectors"
