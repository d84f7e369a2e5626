"""Issue 5, must show: drift detection through Kafka with the shipped detector defaults.

10,000 stationary events of one model give no detection on any stream; a 1 sigma
mean shift of one feature is detected within the 1,000 events that follow it,
counted under that feature's label only, and reaches the alert engine and the
``guardian.alerts`` topic as one alert for that feature.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import orjson
import pytest

from service.alerting.engine import AlertFilter
from tests.e2e_streams import NumericFeature, gaussian_events, sample, samples, wait_for
from tests.kafka_helpers import drain, make_settings, produce, wait_detected

pytestmark = pytest.mark.integration

MODEL = "drift-e2e"
FEATURES = (
    NumericFeature("age", 41.0, 12.0),
    NumericFeature("income", 52_000.0, 15_000.0),
    NumericFeature("debt_ratio", 0.35, 0.1),
)
SHIFTED = "income"
STATIONARY_EVENTS = 10_000
AFTER_CHANGE = 1_000


def processed(guardian: Any) -> float:
    return sample(guardian.metrics.registry, "guardian_events_processed_total", model=MODEL)


async def test_no_drift_when_stationary_then_one_sigma_shift_found_on_its_feature_only(
    kafka_bootstrap: str, guardian_factory: Any
) -> None:
    settings = make_settings(kafka_bootstrap, redaction={"workers": 0})
    guardian = await guardian_factory(settings)
    registry = guardian.metrics.registry
    rng = np.random.default_rng(20260105)
    topic = settings.kafka.topics.events
    key = MODEL.encode()

    await produce(
        kafka_bootstrap, topic, gaussian_events(MODEL, FEATURES, STATIONARY_EVENTS, rng), key=key
    )
    await wait_for(
        lambda: processed(guardian) >= STATIONARY_EVENTS, within=30, what="stationary stream"
    )
    await wait_detected(settings)  # the detectors read the events back from the repartition topic
    detectors = guardian.detectors.list_detectors(model=MODEL)
    watched = {d.feature for d in detectors}
    assert {f.name for f in FEATURES} <= watched  # value and missing-rate detectors per feature
    assert all(d.state["n_seen"] >= STATIONARY_EVENTS for d in detectors if d.feature == SHIFTED)
    detections = samples(registry, "guardian_drift_detected_total")
    assert detections, "drift counters exist at 0 for every detector"
    assert [(s, v) for s, v in detections if v] == [], "false alarm on a stationary stream"

    await produce(
        kafka_bootstrap,
        topic,
        gaussian_events(MODEL, FEATURES, AFTER_CHANGE, rng, shift={SHIFTED: 1.0}),
        key=key,
    )
    await wait_for(
        lambda: processed(guardian) >= STATIONARY_EVENTS + AFTER_CHANGE,
        within=20,
        what="shifted stream",
    )
    assert processed(guardian) == STATIONARY_EVENTS + AFTER_CHANGE
    await wait_detected(settings)

    by_feature: dict[str, float] = {}
    for labels, value in samples(registry, "guardian_drift_detected_total"):
        assert labels["model"] == MODEL
        by_feature[labels["feature"]] = by_feature.get(labels["feature"], 0.0) + value
    # one detection for the change (the cooldown swallows repeats), on the shifted feature only
    assert by_feature.pop(SHIFTED) == 1
    assert set(by_feature) >= {"age", "debt_ratio", "missing:income"}
    assert all(v == 0 for v in by_feature.values()), by_feature

    # the detection reaches the alert engine and, through the worker, guardian.alerts
    drift_alerts = AlertFilter(alertname="GuardianDriftDetected")
    await wait_for(
        lambda: any(a.state == "firing" for a in guardian.alerts.list_alerts(drift_alerts)),
        within=5,
        what="drift alert firing in the engine",
    )
    (alert,) = guardian.alerts.list_alerts(drift_alerts)
    assert (alert.labels["model"], alert.labels["feature"]) == (MODEL, SHIFTED)
    assert alert.detections == 1
    # the detector had seen the stationary values plus the delay when it fired
    seen = int(re.search(r"after (\d+) values", alert.annotations["description"]).group(1))  # type: ignore[union-attr]
    delay = seen - STATIONARY_EVENTS
    assert 0 < delay <= AFTER_CHANGE, delay
    written = await drain(kafka_bootstrap, settings.kafka.topics.alerts, expect=1, timeout_s=10)
    changes = [orjson.loads(m.value) for m in written]
    assert [(c["event"], c["alert"]["labels"]["feature"]) for c in changes] == [("firing", SHIFTED)]
