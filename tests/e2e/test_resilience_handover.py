"""Two replicas share the load; one stops (SIGTERM) and the other takes its partitions and state."""

from __future__ import annotations

import signal

import pytest

from service.state.checkpoint import Checkpoint
from tests.kafka_helpers import (
    drain,
    make_settings,
    process_log,
    sanitized_topics,
    start_guardian_process,
    wait_detected,
    wait_ready,
)
from tests.resilience_helpers import (
    MODELS,
    SIGNING_KEY,
    keyed_events,
    n_seen,
    produce_keyed,
    read_checkpoints,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STATE_ENV = {
    "GUARDIAN_STATE__SIGNING_KEY": SIGNING_KEY,
    "GUARDIAN_STATE__CHECKPOINT_INTERVAL_S": "3600",
}


async def test_stopped_replica_hands_its_partitions_and_detector_state_over(
    kafka_bootstrap: str,
) -> None:
    settings = make_settings(kafka_bootstrap)
    topics = settings.kafka.topics
    sanitized = sanitized_topics(settings)
    a = start_guardian_process(settings, GUARDIAN_REPLICA_ID="ra", **STATE_ENV)
    b_settings = make_settings(kafka_bootstrap)  # only for a free HTTP port
    b = start_guardian_process(
        settings,
        GUARDIAN_REPLICA_ID="rb",
        GUARDIAN_HTTP__PORT=str(b_settings.http.port),
        **STATE_ENV,
    )
    try:
        await wait_ready(settings.http.port, timeout_s=180)
        await wait_ready(b_settings.http.port, timeout_s=180)
        first = keyed_events(600)  # 100 per model
        await produce_keyed(kafka_bootstrap, topics.events, first)
        assert len(await drain(kafka_bootstrap, sanitized, expect=600, timeout_s=40)) == 600
        await wait_detected(settings)  # the detectors read them back from the repartition topic
        a.send_signal(signal.SIGTERM)
        assert a.wait(timeout=20) == 0, process_log(a)
        second = keyed_events(300)  # 50 more per model, all now handled by b
        await produce_keyed(kafka_bootstrap, topics.events, second)
        assert len(await drain(kafka_bootstrap, sanitized, expect=900, timeout_s=40)) == 900
        await wait_detected(settings)
        b.send_signal(signal.SIGTERM)
        assert b.wait(timeout=20) == 0, process_log(b)
    except BaseException:
        for proc in (a, b):
            print(proc.args, process_log(proc)[-4000:])
        raise
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    log_a, log_b = process_log(a), process_log(b)
    assert "Traceback" not in log_a + log_b
    checkpoints = [c for c in await read_checkpoints(kafka_bootstrap, topics.state)]
    assert all(isinstance(c, Checkpoint) for c in checkpoints)
    latest: dict[str, Checkpoint] = {}
    for cp in checkpoints:
        assert isinstance(cp, Checkpoint)
        latest[cp.key] = cp
    value_detectors = {m: latest[f"{m}/1/x/rank_window"] for m in MODELS}
    # Every model's detector saw all 150 of its events: the ones a saw before it stopped
    # continue in b from a's checkpoint instead of restarting from 0.
    assert {m: n_seen(cp) for m, cp in value_detectors.items()} == {m: 150 for m in MODELS}
    # and a really owned some of them before the hand-over.
    restored = [line for line in log_b.splitlines() if "restored" in line and "checkpoints" in line]
    assert any(" of 0 models" not in line for line in restored), log_b
    assert "checkpointing" in log_a
