"""The detect stage leaves out parts with nothing configured, and only those (issue 16).

Segments, performance and text statistics are skipped for a batch when each
would return nothing for every event; these tests pin that the shortcut never
changes what the detectors see or what the monitors hold.
"""

from __future__ import annotations

from typing import Any

from detectors.drift.segments import Segmenter, SegmentSpec
from detectors.fairness.config import FairnessConfig
from detectors.fairness.monitor import FairnessMonitor
from detectors.label_join import LabelJoin
from detectors.performance.config import PerformanceConfig
from detectors.performance.monitor import PerformanceMonitor
from detectors.registry import DetectorRegistry
from detectors.specs import DetectorSpecs
from detectors.text.config import TextConfig
from detectors.text.statistics import TextStatistics
from service.pipeline.context import EventContext
from service.pipeline.detect import DetectStage

MODEL = "credit-risk"
COVERED = PerformanceConfig.from_mapping(
    {"models": [{"model": "credit-*", "window": 1000, "calibration": {"method": "none"}}]}
)


def _batch(start: int, n: int = 60) -> list[EventContext]:
    batch = []
    for i in range(start, start + n):
        ctx = EventContext(topic="inference.events", partition=0, offset=i, raw=b"")
        ctx.event = {
            "event_id": f"e{i}",
            "timestamp": "2026-12-01T00:00:00+00:00",
            "tenant": "acme" if i % 2 else "globex",
            "inputs": {"features": {"income": float(i % 7), "country": "DE"}},
            "outputs": {"prediction": i % 2, "score": (i % 10) / 10},
            "metadata": {"region": "eu"},
        }
        ctx.model, ctx.version, ctx.ts = MODEL, "1", 1_000_000.0 + i
        batch.append(ctx)
    return batch


def _stage(specs: DetectorSpecs, **parts: Any) -> DetectStage:
    return DetectStage(
        DetectorRegistry(specs, None),
        FairnessMonitor(FairnessConfig(), None),
        LabelJoin(max_size=1000, ttl_s=3600.0, metrics=None),
        alerts=None,
        **parts,
    )


def _seen(stage: DetectStage) -> list[tuple[str, str, str, str]]:
    """Every detector with its state (values seen, statistic, ...), comparable across stages."""
    views = stage.registry.list_detectors()
    return sorted((d.version, d.feature, d.type, repr(sorted(d.state.items()))) for d in views)


def test_segmenter_is_active_only_with_a_spec() -> None:
    specs: list[SegmentSpec] = []
    seg = Segmenter(lambda: specs)
    assert not seg.active
    assert seg.rows({"tenant": "acme"}, MODEL, "1", {}, {}, 0.0) == []
    specs.append(SegmentSpec(by="tenant", top_k=1, min_count=1))
    assert seg.active
    assert [r[1] for r in seg.rows({"tenant": "acme"}, MODEL, "1", {}, {}, 0.0)] == [
        "1|tenant=acme"
    ]


def test_text_statistics_are_active_only_with_a_model() -> None:
    off = TextStatistics(TextConfig())
    assert not off.active
    assert off.features(MODEL, "1", {"inputs": {"text": "hello there"}}) == {}
    on = TextStatistics(TextConfig.from_mapping({"models": [{"model": "nothing-matches"}]}))
    assert on.active  # a model entry, even one matching nothing here: features() is asked


def test_an_idle_performance_monitor_observes_nothing() -> None:
    monitor = PerformanceMonitor(PerformanceConfig())
    assert monitor.idle
    before = monitor.export_state()
    assert monitor.observe(MODEL, "1", {"score": 0.5, "prediction": 1}, "e1", 1.0) == []
    assert monitor.export_state() == before and monitor.idle
    assert not PerformanceMonitor(COVERED).idle


def test_a_monitor_holding_windows_is_not_idle_even_without_models() -> None:
    monitor = PerformanceMonitor(COVERED)
    monitor.observe(MODEL, "1", {"score": 0.5, "prediction": 1}, "e1", 1.0)
    assert not monitor.idle
    monitor.replace_config(PerformanceConfig())
    # Whatever replace_config keeps, idle says whether observe() can still change something.
    assert monitor.idle == (not monitor.export_state().get("slots"))


async def test_idle_parts_leave_the_detectors_fed_as_without_them() -> None:
    specs = DetectorSpecs.load()
    bare = _stage(specs)
    idle = _stage(
        specs,
        performance=PerformanceMonitor(PerformanceConfig()),
        text=TextStatistics(TextConfig()),
    )
    for start in (0, 60):
        await bare.process(_batch(start))
        await idle.process(_batch(start))
    assert _seen(idle) == _seen(bare)
    assert _seen(bare)  # the batch reached the drift detectors at all


async def test_parts_configured_between_batches_are_fed_from_the_next_batch() -> None:
    specs = DetectorSpecs.load()
    monitor = PerformanceMonitor(PerformanceConfig())
    stage = _stage(specs, performance=monitor)
    await stage.process(_batch(0))
    assert monitor.idle
    assert not any("|" in v for v, *_ in _seen(stage))
    monitor.replace_config(COVERED)
    stage.registry.replace_specs(
        specs.model_copy(update={"segments": (SegmentSpec(by="tenant", top_k=2, min_count=1),)})
    )
    await stage.process(_batch(60))
    assert not monitor.idle
    assert monitor.snapshot(MODEL) is not None
    assert any(v.startswith("1|tenant=") for v, *_ in _seen(stage))
