"""A model's active alerts move with it: the next holder does not fire them again.

Found by ``load_tests/bench_rolling``: during a rolling restart, fairness breach
alerts fired twice on ``guardian.alerts``, once on the replica that raised them and
again on the one that held the model after the roll (its alert engine started
empty, the restored fairness window still breached).
"""

from __future__ import annotations

import time

import orjson
import pytest

from detectors.results import DriftResult
from service.runtime import Guardian
from tests.kafka_helpers import drain, make_settings
from tests.resilience_helpers import (
    SIGNING_KEY,
    Running,
    keyed_events,
    processed,
    produce_keyed,
    wait_for,
)

pytestmark = pytest.mark.integration

MODEL = "credit-risk"


def _drift(at: float) -> DriftResult:
    return DriftResult(MODEL, "1", "x", "adwin", f"{MODEL}/1/x/adwin", 0.3, at=at, n_seen=500)


async def _firing(bootstrap: str, topic: str) -> list[dict[str, object]]:
    records = await drain(bootstrap, topic, idle_s=1.0, timeout_s=15)
    changes = [orjson.loads(r.value) for r in records]
    return [c["alert"] for c in changes if c["event"] == "firing"]


async def _raise_and_flush(g: Guardian, bootstrap: str, events_topic: str, n: int) -> None:
    """A drift detection of MODEL, its firing change and events that carry it to Kafka."""
    g.alerts.ingest(_drift(time.time()))
    await g.alerts.step()
    done = processed(g)
    await produce_keyed(bootstrap, events_topic, keyed_events(n, [MODEL]))
    await wait_for(lambda: processed(g) >= done + n, timeout_s=60, what=f"{n} events")


async def test_restarted_holder_carries_a_firing_alert_on_without_firing_it_again(
    kafka_bootstrap: str,
) -> None:
    settings = make_settings(
        kafka_bootstrap, state={"signing_key": SIGNING_KEY, "checkpoint_interval_s": 3600}
    )
    topics = settings.kafka.topics
    async with Running(settings) as first:
        await wait_for(lambda: first.worker.ready, timeout_s=60, what="first replica ready")
        await _raise_and_flush(first, kafka_bootstrap, topics.events, 20)
        fired = [a for a in first.alerts.list_alerts() if a.state.value == "firing"]
    assert [a["id"] for a in await _firing(kafka_bootstrap, topics.alerts)] == [fired[0].id]

    async with Running(settings) as second:
        await wait_for(lambda: second.worker.ready, timeout_s=60, what="second replica ready")
        assert second.checkpointer is not None
        assert f"alerts/{MODEL}" in second.checkpointer.last_restore.restored
        # The alert is held here now, still firing, under the same id.
        held = [a for a in second.alerts.list_alerts() if a.state.value == "firing"]
        assert [a.id for a in held] == [fired[0].id]
        # The restored detector detects again: the alert is updated, not fired anew.
        await _raise_and_flush(second, kafka_bootstrap, topics.events, 20)
        assert second.alerts.get_alert(fired[0].id).detections == fired[0].detections + 1
    assert [a["id"] for a in await _firing(kafka_bootstrap, topics.alerts)] == [fired[0].id]
