"""Replayed checkpoints are refused; signing keys rotate without losing state (issue 15.6)."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from service.runtime import Guardian
from service.settings import StateSettings
from service.state.checkpoint import KEY_ID_HEADER, CheckpointCodec, key_id
from tests.e2e_streams import sample
from tests.kafka_helpers import drain, make_settings, wait_detected
from tests.resilience_helpers import (
    MODELS,
    SIGNING_KEY,
    Running,
    keyed_events,
    processed,
    produce_keyed,
    wait_for,
)

pytestmark = pytest.mark.integration

NEW_KEY = "rotated-resilience-signing-key-9876543210"


def _sample(g: Guardian, name: str, **labels: str) -> float:
    return sample(g.metrics.registry, name, **labels)


async def _records_of(bootstrap: str, topic: str, detector: str) -> list[Any]:
    """Every record of ``detector`` on the state topic, oldest first, with its decoded n_seen."""
    codec = CheckpointCodec(SIGNING_KEY.encode())
    found = []
    for m in await drain(bootstrap, topic, idle_s=0.5, timeout_s=10):
        if m.key == detector.encode():
            found.append((m, codec.decode(m.key, m.value, m.headers).state["state"]["n_seen"]))
    return found


async def _replay(bootstrap: str, topic: str, record: Any) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic,
            record.value,
            key=record.key,
            partition=record.partition,
            headers=list(record.headers),
        )
    finally:
        await producer.stop()


async def test_an_older_signed_checkpoint_replayed_is_refused(kafka_bootstrap: str) -> None:
    # A checkpoint with every batch that feeds the detectors: the detectors read the events
    # back from the repartition topic, possibly over several batches, and the last must be
    # checkpointed for the stop below to write the same state again.
    settings = make_settings(
        kafka_bootstrap, state={"signing_key": SIGNING_KEY, "checkpoint_interval_s": 0.001}
    )
    topics = settings.kafka.topics
    detector = f"{MODELS[0]}/1/x/rank_window"
    async with Running(settings) as g:
        await wait_for(lambda: g.worker.ready, what="replica ready")
        await produce_keyed(kafka_bootstrap, topics.events, keyed_events(60))
        await wait_for(lambda: processed(g) >= 60, what="60 events processed")
        await wait_detected(settings)
        # Checkpoints are written with a batch: the next one carries n_seen == 10.
        await produce_keyed(kafka_bootstrap, topics.events, keyed_events(60))
        await wait_for(lambda: processed(g) >= 120, what="120 events processed")
        await wait_detected(settings)
        await produce_keyed(kafka_bootstrap, topics.events, keyed_events(60))
        await wait_for(lambda: processed(g) >= 180, what="180 events processed")
        await wait_detected(settings)
        records = await _records_of(kafka_bootstrap, topics.state, detector)
        older = [m for m, n in records if n < 30]
        assert older, f"no early checkpoint of {detector}: {[n for _, n in records]}"
        assert g.detectors.get(detector).state["n_seen"] == 30
        # An attacker (or a confused tool) writes an old, validly signed record again.
        await _replay(kafka_bootstrap, topics.state, older[0])
        codec = CheckpointCodec(SIGNING_KEY.encode())
        partition = codec.decode(older[0].key, older[0].value, older[0].headers).partition
        assert g.checkpointer is not None
        report = await g.checkpointer.restore({partition})
        assert report.refused.get(detector) == "refused_replay"
        assert _sample(g, "guardian_checkpoints_total", outcome="refused_replay") >= 1
        assert g.detectors.get(detector).state["n_seen"] == 30  # unchanged
    # The graceful stop wrote n_seen == 30 again; the replay is written once more after it.
    await _replay(kafka_bootstrap, topics.state, older[0])
    async with Running(settings) as fresh:
        await wait_for(lambda: fresh.worker.ready, what="fresh replica ready")
        assert fresh.checkpointer is not None
        report = fresh.checkpointer.last_restore
        # A replica that never held the detector still sees, in the same read, that a newer
        # signed checkpoint of it came before: the replay restores nothing.
        assert report.refused.get(detector) == "refused_replay"
        states = {d.id: d.state["n_seen"] for d in fresh.detectors.list_detectors()}
        assert states.get(detector, 0) == 0  # not restored to an old state: it starts cold
        others = {k: v for k, v in states.items() if k != detector and k.endswith("/x/rank_window")}
        assert others and set(others.values()) == {30}


async def test_rotation_old_checkpoints_restore_new_ones_use_the_new_key(
    kafka_bootstrap: str,
) -> None:
    old = make_settings(kafka_bootstrap, state={"signing_key": SIGNING_KEY})
    topics = old.kafka.topics
    async with Running(old) as first:
        await wait_for(lambda: first.worker.ready, what="first replica ready")
        await produce_keyed(kafka_bootstrap, topics.events, keyed_events(120))
        await wait_for(lambda: processed(first) >= 120, what="120 events processed")
        await wait_detected(old)
        before = {d.id: d.state["n_seen"] for d in first.detectors.list_detectors()}
    state = StateSettings(signing_key=NEW_KEY, previous_signing_keys=[SIGNING_KEY])
    rotated = old.model_copy(update={"state": state})
    async with Running(rotated) as second:
        await wait_for(lambda: second.worker.ready, what="rotated replica ready")
        assert second.checkpointer is not None
        report = second.checkpointer.last_restore
        assert report.refused == {}
        after = {d.id: d.state["n_seen"] for d in second.detectors.list_detectors()}
        assert after == before and max(after.values()) == 20
    written = await drain(kafka_bootstrap, topics.state, idle_s=1.0, timeout_s=10)
    by_partition: dict[int, list[str]] = {}
    for m in written:
        by_partition.setdefault(m.partition, []).append(dict(m.headers)[KEY_ID_HEADER].decode())
    old_kid, new_kid = key_id(SIGNING_KEY.encode()), key_id(NEW_KEY.encode())
    assert by_partition
    for kids in by_partition.values():
        # Oldest first: the first replica's records, then only the new key's.
        n_old = kids.count(old_kid)
        assert 0 < n_old < len(kids) and set(kids[n_old:]) == {new_kid}, kids
