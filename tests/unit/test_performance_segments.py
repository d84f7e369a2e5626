"""Performance per segment: a drop in one region is found in its segment, with bounded
cardinality (top-k + __other__), per-segment metrics, alerts, API answer and checkpoint."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from prometheus_client import CollectorRegistry

from detectors.drift.segments import OTHER
from detectors.fairness.config import FairnessConfig
from detectors.fairness.monitor import FairnessMonitor
from detectors.label_join import LabelJoin
from detectors.performance.config import PerformanceConfig
from detectors.performance.monitor import PerformanceMonitor
from detectors.registry import DetectorRegistry
from detectors.results import PerformanceResult
from detectors.specs import DetectorSpecs
from service.alerting import AlertEngine, load_rules
from service.alerting.engine import AlertFilter
from service.alerting.rules import AlertName
from service.metrics import GuardianMetrics
from service.pipeline.context import EventContext
from service.pipeline.detect import DetectStage

MODEL = "credit-risk"
EU = "metadata.region=eu"
US = "metadata.region=us"


def _config(segments: list[dict[str, Any]] | None = None, **overrides: Any) -> PerformanceConfig:
    entry: dict[str, Any] = {
        "model": "credit-*",
        "window": 1000,
        "evaluate_every": {"events": 500, "labels": 200},
        "calibration": {"method": "none"},
        "thresholds": {"accuracy": 0.7},
        "min_events": 200,
        "breach_after": 2,
        "clear_after": 2,
    }
    entry.update(overrides)
    segs = segments if segments is not None else [{"by": "metadata.region", "min_count": 1}]
    return PerformanceConfig.from_mapping({"models": [entry], "segments": segs})


def _event(region: str, age_band: str = "30-39") -> dict[str, Any]:
    return {"metadata": {"region": region}, "subject": {"protected": {"age_band": age_band}}}


def _feed(
    monitor: PerformanceMonitor, n: int, unsure_region: str | None, prefix: str, seed: int = 0
) -> tuple[list[PerformanceResult], dict[str, int]]:
    """Alternate eu/us events; the scores of ``unsure_region`` are near 0.5 (low accuracy).

    Labels are drawn from the scores (calibrated), returned by event id.
    """
    rng = np.random.default_rng(seed)
    results: list[PerformanceResult] = []
    labels: dict[str, int] = {}
    for i in range(n):
        region = "eu" if i % 2 else "us"
        high = i % 4 < 2
        if region == unsure_region:
            score = 0.55 if high else 0.45
        else:
            score = 0.95 if high else 0.05
        event_id = f"{prefix}{i}"
        labels[event_id] = int(rng.random() < score)
        outputs = {"score": score, "prediction": int(score > 0.5)}
        results += monitor.observe(MODEL, "1", outputs, event_id, ts=float(i), event=_event(region))
    return results, labels


def test_a_drop_in_one_segment_breaches_that_segment_only_and_clears() -> None:
    registry = CollectorRegistry()
    monitor = PerformanceMonitor(_config(), GuardianMetrics(registry))
    results, _ = _feed(monitor, 3000, None, "a")
    assert results == []
    results, _ = _feed(monitor, 3000, "eu", "b")
    # eu: estimated accuracy 0.55; the version as a whole 0.75: only eu breaches
    assert [(r.segment, r.metric, r.state) for r in results] == [(EU, "accuracy", "breach")]
    assert results[0].value < 0.7 and results[0].n == 1000
    view = monitor.snapshot(MODEL)
    assert view is not None
    assert set(view["segments"]) == {EU, US}
    eu = view["segments"][EU]
    assert eu["estimated"]["accuracy"]["value"] < 0.6
    assert view["segments"][US]["estimated"]["accuracy"]["value"] > 0.9
    assert eu["window"]["events"] == 1000
    assert eu["alerts"]["accuracy"]["state"] == "breach"
    assert view["alerts"]["accuracy"]["state"] == "ok"

    def sample(name: str, segment: str) -> float | None:
        labels = {"model": MODEL, "version": "1", "segment": segment, "metric": "accuracy"}
        return registry.get_sample_value(name, labels)

    assert sample("guardian_performance_breached", EU) == 1.0
    assert sample("guardian_performance_breached", US) == 0.0
    assert sample("guardian_performance_breached", "all") == 0.0
    assert 0.5 < (sample("guardian_performance_estimated", EU) or 0) < 0.6
    assert 0.7 < (sample("guardian_performance_estimated", "all") or 0) < 0.8
    results, _ = _feed(monitor, 3000, None, "c")
    assert [(r.segment, r.state) for r in results] == [(EU, "clear")]
    assert sample("guardian_performance_breached", EU) == 0.0


def test_labels_join_to_their_segment_and_a_one_class_segment_says_why() -> None:
    monitor = PerformanceMonitor(_config())
    _, labels = _feed(monitor, 1000, "eu", "a", seed=3)
    for event_id, label in labels.items():
        # us events get their drawn label; every eu label is positive (one class)
        eu = int(event_id[1:]) % 2 == 1
        monitor.join_label(event_id, 1 if eu else label, MODEL, "1")
    view = monitor.snapshot(MODEL)
    assert view is not None
    us, eu = view["segments"][US], view["segments"][EU]
    assert us["window"]["labelled"] == eu["window"]["labelled"] == 500
    assert us["realized"]["accuracy"]["value"] > 0.85
    assert us["realized"]["roc_auc"]["value"] is not None
    # eu: accuracy and recall are computable, ROC AUC is not, and the answer says why
    assert eu["realized"]["accuracy"]["value"] == 0.5
    assert eu["realized"]["recall"]["value"] == 0.5
    assert eu["realized"]["roc_auc"]["value"] is None
    assert eu["realized"]["roc_auc"]["reason"] == "labels hold one class only"


def test_segment_cardinality_is_bounded_and_windows_count_towards_the_limit() -> None:
    registry = CollectorRegistry()
    cfg = _config(
        segments=[
            {"by": "metadata.region", "top_k": 2, "min_count": 5},
            {"by": "protected.age_band", "top_k": 1, "min_count": 5},
        ]
    )
    monitor = PerformanceMonitor(cfg, GuardianMetrics(registry))
    for i in range(2000):
        region = f"r{i % 3}" if i < 300 else f"rare{i}"
        event = _event(region, age_band="40-49" if i % 2 else "50-59")
        monitor.observe(MODEL, "1", {"score": 0.8, "prediction": 1}, f"e{i}", event=event)
    view = monitor.snapshot(MODEL)
    assert view is not None
    assert set(view["segments"]) == {
        "metadata.region=r0",
        "metadata.region=r1",
        f"metadata.region={OTHER}",
        "protected.age_band=50-59",  # the first to reach min_count
        f"protected.age_band={OTHER}",
    }
    # 1 version window + 5 segment windows; a limit of 3 refuses the rest and counts it
    small = PerformanceConfig.from_mapping({**cfg.model_dump(mode="json"), "max_windows": 3})
    registry = CollectorRegistry()
    bounded = PerformanceMonitor(small, GuardianMetrics(registry))
    for i in range(400):
        event = _event(f"r{i % 3}", age_band="40-49")
        bounded.observe(MODEL, "1", {"score": 0.8, "prediction": 1}, f"e{i}", event=event)
    limited = bounded.snapshot(MODEL)
    assert limited is not None and len(limited["segments"]) == 2
    assert limited["window"]["events"] == 400  # the version's window takes every event
    refused = registry.get_sample_value(
        "guardian_detectors_refused_total", {"limit": "performance_windows"}
    )
    assert refused is not None and refused > 0


def test_a_checkpoint_keeps_segments_their_alert_state_and_their_names() -> None:
    cfg = _config()
    monitor = PerformanceMonitor(cfg)
    _feed(monitor, 3000, "eu", "a")
    before = monitor.snapshot(MODEL)
    assert before is not None and before["segments"][EU]["alerts"]["accuracy"]["state"] == "breach"
    restored = PerformanceMonitor(cfg)
    assert restored.import_state(monitor.export_state([MODEL])) == []
    after = restored.snapshot(MODEL)
    assert after is not None
    assert set(after["segments"]) == {EU, US}
    assert after["segments"][EU]["alerts"] == before["segments"][EU]["alerts"]
    assert (
        after["segments"][EU]["estimated"]["accuracy"]["value"]
        == (before["segments"][EU]["estimated"]["accuracy"]["value"])
    )
    # the checkpoint keeps a segment's events that are in the version's window (the last
    # 1000 events: 500 of each region); older ones are not stored, the window refills
    assert before["segments"][EU]["window"]["events"] == 1000
    assert after["segments"][EU]["window"]["events"] == 500
    # a restored segment keeps its name at once (no min_count again, never __other__)
    restored.observe(MODEL, "1", {"score": 0.9, "prediction": 1}, "new", event=_event("eu"))
    view = restored.snapshot(MODEL)
    assert view is not None and set(view["segments"]) == {EU, US}
    assert view["segments"][EU]["window"]["events"] == 501
    # a config without the segment spec drops the segments, keeps the version's window
    restored.replace_config(_config(segments=[]))
    plain = restored.snapshot(MODEL)
    assert plain is not None and plain["segments"] == {} and plain["window"]["events"] == 1000


def test_a_segment_breach_raises_its_own_alert() -> None:
    engine = AlertEngine(load_rules(), GuardianMetrics(CollectorRegistry()))
    t0 = 1_767_225_600.0
    for segment in ("all", EU):
        result = PerformanceResult(MODEL, "1", "accuracy", 0.55, 0.7, "breach", t0, 1000, segment)
        engine.ingest(result, now=t0)
    engine.tick(now=t0)
    alerts = engine.list_alerts(AlertFilter(alertname=AlertName.PERFORMANCE.value), now=t0)
    by_segment = {a.labels["segment"]: a for a in alerts}
    assert set(by_segment) == {"all", EU}
    assert "in segment metadata.region=eu" in by_segment[EU].annotations["description"]
    assert "segment" not in by_segment["all"].annotations["description"]
    engine.ingest(
        PerformanceResult(MODEL, "1", "accuracy", 0.8, 0.7, "clear", t0 + 60, 1000, EU),
        now=t0 + 60,
    )
    engine.tick(now=t0 + 60)
    states = {
        a.labels["segment"]: a.state
        for a in engine.list_alerts(AlertFilter(alertname=AlertName.PERFORMANCE.value), now=t0)
    }
    assert states == {"all": "firing", EU: "resolved"}


async def test_the_detect_stage_hands_the_event_to_the_segments_and_labels_join_them() -> None:
    monitor = PerformanceMonitor(_config())
    stage = DetectStage(
        DetectorRegistry(DetectorSpecs(), None),
        FairnessMonitor(FairnessConfig(), None),
        LabelJoin(max_size=1000, ttl_s=3600.0, metrics=None),
        alerts=None,
        performance=monitor,
    )
    batch = []
    for i in range(40):
        ctx = EventContext(topic="inference.events", partition=0, offset=i, raw=b"")
        ctx.event = {
            "event_id": f"e{i}",
            "timestamp": "2026-12-01T00:00:00+00:00",
            "outputs": {"score": 0.8, "prediction": 1},
            **_event("eu" if i % 4 else "us"),
        }
        ctx.model, ctx.version, ctx.ts = MODEL, "1", 1_000_000.0 + i
        batch.append(ctx)
    await stage.process(batch)
    for i in range(40):
        stage.on_label({"event_id": f"e{i}", "label": 1})
    view = monitor.snapshot(MODEL)
    assert view is not None
    assert view["segments"][EU]["window"] == {"events": 30, "labelled": 30}
    assert view["segments"][US]["window"] == {"events": 10, "labelled": 10}


def test_segments_add_bytes_per_event_to_the_checkpoint_not_a_window_each() -> None:
    def size(segments: list[dict[str, Any]]) -> int:
        monitor = PerformanceMonitor(_config(segments=segments, window=5000))
        for i in range(20_000):
            event = _event(f"r{i % 10}", age_band=f"a{i % 7}")
            outputs = {"score": (i % 100) / 100, "prediction": i % 2}
            monitor.observe(MODEL, "1", outputs, f"e{i}", ts=float(i), event=event)
        return len(orjson.dumps(monitor.export_state([MODEL])))

    plain = size([])
    segmented = size(
        [{"by": "metadata.region", "min_count": 1}, {"by": "protected.age_band", "min_count": 1}]
    )
    # 17 segment windows of up to 5,000 events, about 3 bytes per event and spec more
    assert segmented < plain * 1.4, (plain, segmented)
    assert segmented < 1_048_576  # under the default max_message_bytes


def test_a_segment_is_evaluated_every_evaluate_every_of_its_own_events() -> None:
    cfg = _config(evaluate_every={"events": 100, "labels": 100}, min_events=50, breach_after=5)
    monitor = PerformanceMonitor(cfg)
    for i in range(1000):  # 10 version evaluations; eu (one event in ten) gets 100 events
        region = "eu" if i % 10 == 0 else "us"
        s = (0.55 if i % 20 == 0 else 0.45) if region == "eu" else (0.95 if i % 2 else 0.05)
        outputs = {"score": s, "prediction": int(s > 0.5)}
        monitor.observe(MODEL, "1", outputs, f"e{i}", event=_event(region))
    view = monitor.snapshot(MODEL)
    assert view is not None
    assert view["segments"][EU]["window"]["events"] == 100
    assert view["segments"][EU]["alerts"]["accuracy"]["breach_run"] == 1  # one evaluation
    assert view["segments"][US]["alerts"]["accuracy"]["clear_run"] == 9  # 900 events
    assert view["alerts"]["accuracy"]["clear_run"] == 10
