"""Detector state survives a restart through guardian.state; forged checkpoints are refused."""

from __future__ import annotations

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from service.composition import build_guardian
from service.runtime import Guardian
from service.state.checkpoint import KEY_ID_HEADER, SIGNATURE_HEADER, CheckpointCodec
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


def _sample(g: Guardian, name: str, **labels: str) -> float:
    return sample(g.metrics.registry, name, **labels)


async def test_restart_restores_detectors_and_refuses_forged_checkpoints(
    kafka_bootstrap: str,
) -> None:
    settings = make_settings(
        kafka_bootstrap, state={"signing_key": SIGNING_KEY, "checkpoint_interval_s": 3600}
    )
    topics = settings.kafka.topics
    async with Running(settings) as first:
        await wait_for(lambda: first.worker.ready, what="first replica ready")
        await produce_keyed(kafka_bootstrap, topics.events, keyed_events(120))
        await wait_for(lambda: processed(first) >= 120, what="120 events processed")
        await wait_detected(settings)  # the detectors read them back from the repartition topic
        before = {d.id: d.state["n_seen"] for d in first.detectors.list_detectors()}
        windows = first.performance.export_state()["windows"]
        performance_before = {k: len(w["window"]["ids"]) for k, w in windows.items()}
    assert performance_before == {f"{m}|1": 20 for m in MODELS}  # scores of 20 events each
    # The graceful stop checkpointed every detector and fairness window.
    assert _sample(first, "guardian_checkpoints_total", outcome="written") >= len(before)
    assert before and max(before.values()) == 20  # 120 events over 6 models

    # Tamper with the topic: a forged value for one real detector (the latest record for
    # that key wins, and is refused), a validly signed envelope of an unknown version.
    forged_id = sorted(before)[0]
    written = await drain(kafka_bootstrap, topics.state, idle_s=1.0, timeout_s=10)
    home = next(m.partition for m in written if m.key == forged_id.encode())
    codec = CheckpointCodec(SIGNING_KEY.encode())
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        fake = orjson.dumps(
            {
                "v": 1,
                "kind": "drift",
                "model": "x",
                "partition": 0,
                "offset": 0,
                "state": {},
                "created_at": 0.0,
            }
        )
        await producer.send_and_wait(
            topics.state,
            fake,
            key=forged_id.encode(),
            partition=home,
            headers=[(SIGNATURE_HEADER, b"0" * 64), (KEY_ID_HEADER, codec.key_id.encode())],
        )
        future = orjson.dumps({"v": 2, "kind": "drift"})
        sig = codec._mac(SIGNING_KEY.encode(), b"future/1/x/adwin", future).hex().encode()
        await producer.send_and_wait(
            topics.state,
            future,
            key=b"future/1/x/adwin",
            partition=home,
            headers=[(SIGNATURE_HEADER, sig), (KEY_ID_HEADER, codec.key_id.encode())],
        )
    finally:
        await producer.stop()

    async with Running(settings) as second:
        await wait_for(lambda: second.worker.ready, what="second replica ready")
        assert second.checkpointer is not None
        report = second.checkpointer.last_restore
        after = {d.id: d.state["n_seen"] for d in second.detectors.list_detectors()}
        assert _sample(second, "guardian_checkpoints_total", outcome="refused_signature") == 1
        assert _sample(second, "guardian_checkpoints_total", outcome="refused_version") >= 1
        # The refused record restored nothing: that detector starts cold (or not at all).
        assert before[forged_id] > 0 and after.get(forged_id, 0) == 0
        assert {k: v for k, v in after.items() if k != forged_id} == {
            k: v for k, v in before.items() if k != forged_id
        }
        assert report.models == set(MODELS)
        # Performance windows (scores, calibrators) come back with the detectors.
        windows = second.performance.export_state()["windows"]
        assert {k: len(w["window"]["ids"]) for k, w in windows.items()} == performance_before
        assert {f"performance/{m}" for m in MODELS} <= set(report.restored)
        # Detection continues where it left off.
        await produce_keyed(kafka_bootstrap, topics.events, keyed_events(60))
        await wait_for(lambda: processed(second) >= 60, what="60 more processed")
        await wait_detected(settings)
        survivor = next(
            k for k in sorted(before) if k != forged_id and k.endswith("/x/rank_window")
        )
        assert second.detectors.get(survivor).state["n_seen"] == before[survivor] + 10
        fairness = second.fairness.export_state()["models"]
        assert set(fairness) <= set(MODELS)


async def test_without_a_signing_key_checkpoints_are_off_and_counted(kafka_bootstrap: str) -> None:
    settings = make_settings(kafka_bootstrap)
    guardian = build_guardian(settings, CollectorRegistry())
    assert guardian.checkpointer is None
    assert _sample(guardian, "guardian_checkpoints_total", outcome="disabled") == 1
