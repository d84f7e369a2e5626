"""Labels drive fairness evaluation (issue #20, point 4).

6,000 events, then their labels in a batch after traffic stopped: the
label-based metrics (equalized odds, equal opportunity) must be evaluated as the
labels join (every ``evaluate_every.labels``) and, for a remainder smaller than
that, on the next periodic tick while the event clock stands still. Before the
fix they stayed NaN until new events arrived.
"""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry

from detectors.fairness.config import FairnessConfig
from detectors.fairness.monitor import FairnessMonitor
from detectors.label_join import LabelJoin
from detectors.registry import DetectorRegistry
from detectors.specs import DetectorSpecs
from service.metrics import GuardianMetrics
from service.pipeline.context import EventContext
from service.pipeline.detect import DetectStage

MODEL = "credit-risk"
N = 6000


def _config(labels_every: int | None = 200) -> FairnessConfig:
    return FairnessConfig.from_mapping(
        {
            "models": [
                {
                    "model": "credit-*",
                    "attributes": {"gender": ["f", "m"]},
                    "window": {"size": 10_000},
                    "evaluate_every": {"events": 200, "labels": labels_every},
                    "min_group_size": 30,
                    "breach_after": 2,
                    "metrics": {
                        "equalized_odds_difference": 0.1,
                        "equal_opportunity_difference": 0.1,
                    },
                }
            ]
        }
    )


def _label(i: int) -> int:
    return int(i % 4 < 2)


def _prediction(i: int) -> int:
    # group f is predicted perfectly, group m is always approved: equalized odds 1.0
    return _label(i) if i % 2 == 0 else 1


def _event(i: int) -> EventContext:
    ctx = EventContext(topic="inference.events", partition=0, offset=i, raw=b"")
    ctx.event = {
        "event_id": f"e{i}",
        "timestamp": "2026-12-01T00:00:00+00:00",
        "inputs": {"features": {}},
        "outputs": {"prediction": _prediction(i)},
        "subject": {"protected": {"gender": "fm"[i % 2]}},
    }
    ctx.model, ctx.version, ctx.ts = MODEL, "1", 1_000_000.0 + i
    return ctx


def _stage(cfg: FairnessConfig) -> tuple[DetectStage, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = GuardianMetrics(registry)
    stage = DetectStage(
        DetectorRegistry(DetectorSpecs(), None),
        FairnessMonitor(cfg, metrics),
        LabelJoin(max_size=20_000, ttl_s=1e9, metrics=None),
        alerts=None,
    )
    return stage, registry


def _gauge(registry: CollectorRegistry, metric: str) -> float | None:
    return registry.get_sample_value(
        "guardian_fairness_value", {"model": MODEL, "attribute": "gender", "metric": metric}
    )


async def _events(stage: DetectStage) -> None:
    for start in range(0, N, 500):
        await stage.process([_event(i) for i in range(start, start + 500)])


async def test_a_batch_of_labels_after_traffic_stopped_updates_equalized_odds() -> None:
    stage, registry = _stage(_config())
    await _events(stage)
    before = _gauge(registry, "equalized_odds_difference")
    assert before is not None and math.isnan(before)  # no labels yet
    for i in range(N):  # no event after this point: the event clock stands still
        stage.on_label({"event_id": f"e{i}", "label": _label(i)})
    assert _gauge(registry, "equalized_odds_difference") == pytest.approx(1.0)
    assert _gauge(registry, "equal_opportunity_difference") == pytest.approx(0.0)
    snap = stage.fairness.snapshot(MODEL)
    assert snap is not None
    assert snap["attributes"]["gender"]["metrics"]["equalized_odds_difference"]["state"] == "breach"


async def test_fewer_labels_than_the_schedule_are_evaluated_on_the_next_tick() -> None:
    stage, registry = _stage(_config(labels_every=10_000))
    await _events(stage)
    for i in range(150):
        stage.on_label({"event_id": f"e{i}", "label": _label(i)})
    assert math.isnan(_gauge(registry, "equalized_odds_difference") or math.nan)
    # The periodic tick runs on the event clock; with no new event it stands at the last event.
    stage.fairness.tick(1_000_000.0 + N - 1)
    assert _gauge(registry, "equalized_odds_difference") == pytest.approx(1.0)
    # Nothing new joined since: the next tick evaluates nothing (no extra hysteresis step).
    snap = stage.fairness.snapshot(MODEL)
    assert snap is not None
    run = snap["attributes"]["gender"]["metrics"]["equalized_odds_difference"]["breach_run"]
    stage.fairness.tick(1_000_000.0 + N - 1)
    snap = stage.fairness.snapshot(MODEL)
    assert snap is not None
    assert snap["attributes"]["gender"]["metrics"]["equalized_odds_difference"]["breach_run"] == run


def test_labels_since_evaluation_survive_a_checkpoint() -> None:
    cfg = _config(labels_every=10_000)
    monitor = FairnessMonitor(cfg, None)
    for i in range(300):
        monitor.observe(
            MODEL, "1", {"gender": "fm"[i % 2]}, _prediction(i), event_id=f"e{i}", ts=float(i)
        )
    for i in range(200):
        monitor.observe_label(f"e{i}", _label(i), model=MODEL)
    restored = FairnessMonitor(cfg, None)
    restored.import_state(monitor.export_state())
    restored.tick(299.0)
    snap = restored.snapshot(MODEL)
    assert snap is not None
    assert snap["attributes"]["gender"]["metrics"]["equalized_odds_difference"]["breach_run"] == 1
