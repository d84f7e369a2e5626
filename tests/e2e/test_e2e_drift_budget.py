"""Issue 17 through Kafka: the budgeted detector on heavy-tailed streams, default config.

With the shipped config/detectors.yaml (no specs of the test's own): 10,000
stationary events with lognormal, Pareto and zero-inflated features and a
categorical one of many rare categories give no detection; a 1 sigma mean
shift of one feature is then found on that feature only, within the 1,000
events that follow it, and its alert explains itself (threshold, alarm rate,
before/after quantiles).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from detectors.specs import DEFAULT_PATH
from service.alerting.engine import AlertFilter
from tests.e2e_streams import event, sample, samples, wait_for
from tests.kafka_helpers import make_settings, produce, wait_detected

pytestmark = pytest.mark.integration

MODEL = "budget-e2e"
STATIONARY, AFTER = 10_000, 1_000
SHIFTED = "amount"

MU, SIGMA = 3.0, 1.5
AMOUNT_SD = float(np.sqrt(np.expm1(SIGMA**2)) * np.exp(MU + SIGMA**2 / 2))  # lognormal's sd


def columns(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    return {
        SHIFTED: rng.lognormal(MU, SIGMA, n) + shift * AMOUNT_SD,
        "claims": rng.pareto(2.5, n),
        "visits": np.where(rng.random(n) < 0.7, 0.0, rng.poisson(4.0, n)),
    }


def encoded(rng: np.random.Generator, n: int, t0: float, shift: float = 0.0) -> list[bytes]:
    cols = columns(rng, n, shift)
    plans = np.minimum(rng.zipf(1.5, n), 500)  # categorical: 500 categories, most rare
    return [
        orjson.dumps(
            event(
                MODEL,
                {**{k: float(v[i]) for k, v in cols.items()}, "plan": f"plan-{plans[i]}"},
                ts=t0 + i * 0.01,
            )
        )
        for i in range(n)
    ]


async def test_heavy_tails_stay_quiet_and_a_one_sigma_shift_is_found(
    kafka_bootstrap: str, guardian_factory: Any, tmp_path: Path
) -> None:
    settings = make_settings(kafka_bootstrap, redaction={"workers": 0})
    assert settings.detectors.specs_file.resolve() == DEFAULT_PATH  # the shipped defaults
    guardian = await guardian_factory(settings)
    registry = guardian.metrics.registry
    rng = np.random.default_rng(17)
    topic, key = settings.kafka.topics.events, MODEL.encode()
    t0 = time.time() - 200.0

    def processed() -> float:
        return sample(registry, "guardian_events_processed_total", model=MODEL)

    await produce(kafka_bootstrap, topic, encoded(rng, STATIONARY, t0), key=key)
    await wait_for(lambda: processed() >= STATIONARY, within=60, what="stationary stream")
    await wait_detected(settings)  # the detectors read the events back from the repartition topic
    watched = {(d.feature, d.kind) for d in guardian.detectors.list_detectors(model=MODEL)}
    budgeted = {(f, "rank_window") for f in (SHIFTED, "claims", "visits")}
    assert budgeted | {("plan", "category_window")} <= watched
    fired = [(s, v) for s, v in samples(registry, "guardian_drift_detected_total") if v]
    assert fired == [], "false alarm on a stationary heavy-tailed stream"

    await produce(
        kafka_bootstrap, topic, encoded(rng, AFTER, t0 + STATIONARY * 0.01, shift=1.0), key=key
    )
    await wait_for(lambda: processed() >= STATIONARY + AFTER, within=30, what="shifted stream")
    await wait_detected(settings)
    by_feature: dict[str, float] = {}
    for labels, value in samples(registry, "guardian_drift_detected_total"):
        by_feature[labels["feature"]] = by_feature.get(labels["feature"], 0.0) + value
    assert by_feature.pop(SHIFTED) == 1
    assert all(v == 0 for v in by_feature.values()), by_feature

    drift_alerts = AlertFilter(alertname="GuardianDriftDetected")
    await wait_for(
        lambda: bool(guardian.alerts.list_alerts(drift_alerts)), within=5, what="drift alert"
    )
    (alert,) = guardian.alerts.list_alerts(drift_alerts)
    notes = alert.annotations
    assert notes["feature"] == SHIFTED and "threshold" in notes and "after" in notes
    seen = int(notes["description"].split(" values")[0].split()[-1])
    assert 0 < seen - STATIONARY <= AFTER, seen
    (info,) = [
        d
        for d in guardian.detectors.list_detectors(model=MODEL, feature=SHIFTED)
        if d.kind == "rank_window"
    ]
    assert info.state["n_detections"] == 1
