"""DetectorRegistry: creation within limits, one detection per change, metrics,
control-plane operations, state export/import and live spec changes."""

from __future__ import annotations

import json
import random

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from detectors.registry import DetectorRegistry, UnknownDetectorError
from detectors.specs import DetectorSpecs
from service.metrics import GuardianMetrics

M, V = "credit-risk", "3.2.0"


@pytest.fixture
def metrics() -> GuardianMetrics:
    return GuardianMetrics(CollectorRegistry())


def shipped() -> DetectorSpecs:
    return DetectorSpecs.load()


def events(seed: int, n: int, shift_at: int | None = None):
    r = random.Random(seed)
    for i in range(n):
        mu = 1.0 if shift_at is not None and i >= shift_at else 0.0
        yield (
            {"age": r.gauss(mu, 1.0), "income": r.gauss(0.0, 1.0), "country": r.choice("ABC")},
            {"score": r.random(), "prediction": r.random() < 0.3},
        )


def drift_count(metrics: GuardianMetrics, feature: str, detector: str = "rank_window") -> float:
    value = metrics.registry.get_sample_value(
        "guardian_drift_detected_total", {"model": M, "feature": feature, "detector": detector}
    )
    return value or 0.0


def test_one_detection_per_change_under_that_feature_only(metrics: GuardianMetrics) -> None:
    reg = DetectorRegistry(shipped(), metrics)
    results = []
    for i, (features, outputs) in enumerate(events(1, 8000, shift_at=4000)):
        results += reg.observe(M, V, features, outputs, ts=float(i))
    assert [(r.feature, r.detector) for r in results] == [("age", "rank_window")]
    (hit,) = results
    assert 4000 <= hit.at < 4300 and hit.detector_id == f"{M}/{V}/age/rank_window"
    assert hit.statistic > 1.0  # |z| over its calibrated threshold
    assert hit.n_seen == hit.at + 1
    assert drift_count(metrics, "age") == 1
    assert drift_count(metrics, "income") == 0
    gauge = metrics.registry.get_sample_value(
        "guardian_drift_statistic", {"model": M, "feature": "age", "detector": "rank_window"}
    )
    assert gauge is not None and gauge > 0.0  # the last test's |z| over the threshold


def test_no_detection_on_stationary_events(metrics: GuardianMetrics) -> None:
    reg = DetectorRegistry(shipped(), metrics)
    found = []
    for i, (features, outputs) in enumerate(events(2, 10_000)):
        found += reg.observe(M, V, features, outputs, ts=float(i))
    assert found == []
    assert metrics.registry.get_sample_value("guardian_detectors_active") == len(
        reg.list_detectors()
    )


def test_limits_refuse_and_count_once(metrics: GuardianMetrics) -> None:
    specs = DetectorSpecs.model_validate(
        {"limits": {"max_models": 2, "max_features_per_model": 2, "max_detectors": 9}}
    )
    reg = DetectorRegistry(specs, metrics)
    for _ in range(5):
        for model in ("a", "b", "c"):
            reg.observe(model, "1", {"x": 1.0, "y": 2.0, "z": 3.0}, {}, ts=0.0)
    refused = metrics.registry.get_sample_value
    assert refused("guardian_detectors_refused_total", {"limit": "models"}) == 1  # "c", once
    assert refused("guardian_detectors_refused_total", {"limit": "features"}) == 2  # a/z, b/z
    assert {d.model for d in reg.list_detectors()} == {"a", "b"}
    assert len(reg.list_detectors()) == 8  # 2 models x 2 features x (value + missing)
    reg.observe("a", "1", {}, {"score": 0.5}, ts=0.0)  # score detector fits (9th)
    reg.observe("b", "1", {}, {"score": 0.5}, ts=0.0)  # 10th: refused
    assert refused("guardian_detectors_refused_total", {"limit": "detectors"}) == 1
    assert len(reg.list_detectors()) == 9


def test_missing_rate_counts_absent_and_null_features() -> None:
    reg = DetectorRegistry(shipped())
    reg.observe(M, V, {"age": 1.0}, {}, ts=0.0)
    for _ in range(9):
        reg.observe(M, V, {}, {}, ts=0.0)
    reg.observe(M, V, {"age": None}, {}, ts=0.0)
    missing = reg.get(f"{M}/{V}/missing:age/missing_rate")
    value = reg.get(f"{M}/{V}/age/rank_window")
    assert missing.state["n_seen"] == 11 and value.state["n_seen"] == 1


def test_type_mismatch_and_nan_are_skipped() -> None:
    reg = DetectorRegistry(shipped())
    reg.observe(M, V, {"age": 1.0, "country": "DE"}, {}, ts=0.0)
    reg.observe(M, V, {"age": "forty", "country": float("nan")}, {}, ts=0.0)
    assert reg.get(f"{M}/{V}/age/rank_window").state["n_seen"] == 1
    assert reg.get(f"{M}/{V}/country/category_window").state["n_seen"] == 1


def test_patch_params_validates_before_changing() -> None:
    reg = DetectorRegistry(shipped())
    for i, (features, outputs) in enumerate(events(3, 300)):
        reg.observe(M, V, features, outputs, ts=float(i))
    did = f"{M}/{V}/age/rank_window"
    before = reg.get(did)
    with pytest.raises(ValidationError) as exc:
        reg.patch_params(did, {"false_alarms_per_day": -1.0, "colck": 3})
    assert "false_alarms_per_day" in str(exc.value) and "colck" in str(exc.value)
    assert reg.get(did) == before
    after = reg.patch_params(did, {"false_alarms_per_day": 0.001})
    assert after.params["false_alarms_per_day"] == 0.001 and after.state["n_seen"] == 0
    with pytest.raises(UnknownDetectorError):
        reg.patch_params("nope/1/x/rank_window", {"false_alarms_per_day": 0.01})


def test_reset_by_id() -> None:
    reg = DetectorRegistry(shipped())
    reg.observe(M, V, {"age": 1.0}, {}, ts=0.0)
    assert reg.reset(f"{M}/{V}/age/rank_window").state["n_seen"] == 0
    assert reg.get(f"{M}/{V}/missing:age/missing_rate").state["n_seen"] == 1


def test_outcomes_feed_error_rate_detectors(metrics: GuardianMetrics) -> None:
    reg = DetectorRegistry(shipped(), metrics)
    r = random.Random(4)
    found = []
    for i in range(6000):
        found += reg.observe_outcome(M, V, r.random() < (0.1 if i < 3000 else 0.4), ts=float(i))
    assert [(x.feature, x.detector) for x in found] == [("error_rate", "hddm_a")]
    assert 3000 <= found[0].at < 3200
    assert drift_count(metrics, "error_rate", "hddm_a") == 1


def test_state_round_trip_between_replicas() -> None:
    stream = list(events(5, 8000, shift_at=4500))
    a = DetectorRegistry(shipped())
    for i, (f, o) in enumerate(stream[:3000]):
        a.observe(M, V, f, o, ts=float(i))
    records = json.loads(json.dumps(a.export_state()))
    b = DetectorRegistry(shipped())
    report = b.import_state(records)
    assert sorted(report.restored) == sorted(records) and report.refused == {}
    out_a, out_b = [], []
    for i, (f, o) in enumerate(stream[3000:], start=3000):
        out_a += a.observe(M, V, f, o, ts=float(i))
        out_b += b.observe(M, V, f, o, ts=float(i))
    assert out_a == out_b and len(out_a) == 1
    assert b.export_state() == a.export_state()


def test_import_refuses_bad_records() -> None:
    reg = DetectorRegistry(shipped())
    reg.observe(M, V, {"age": 1.0}, {}, ts=0.0)
    records = reg.export_state()
    did = f"{M}/{V}/age/rank_window"
    bad = {did: {**records[did], "state": {**records[did]["state"], "v": 7}}}
    assert did in reg.import_state(bad).refused
    bad = {did: {**records[did], "params": {"false_alarms_per_day": -1.0}}}
    assert did in reg.import_state(bad).refused


def test_replace_specs_live() -> None:
    reg = DetectorRegistry(shipped())
    for i, (f, o) in enumerate(events(6, 100)):
        reg.observe(M, V, f, o, ts=float(i))
    new = DetectorSpecs.model_validate(
        {
            "overrides": [
                {
                    "model": "credit-*",
                    "feature": "age",
                    "detectors": [{"kind": "page_hinkley"}, {"kind": "kswin"}],
                }
            ]
        }
    )
    kept_before = reg.get(f"{M}/{V}/income/rank_window").state["n_seen"]
    reg.replace_specs(new)
    kinds = {d.kind for d in reg.list_detectors(feature="age")}
    assert kinds == {"page_hinkley", "kswin"}
    with pytest.raises(UnknownDetectorError):
        reg.get(f"{M}/{V}/age/rank_window")
    # income's spec changed too (shipped YAML spells out params, class defaults do not)
    assert reg.get(f"{M}/{V}/income/rank_window").state["n_seen"] == 0 < kept_before
    reg.replace_specs(new)  # same specs again: nothing restarts
    reg.observe(M, V, {"age": 1.0, "income": 1.0}, {}, ts=0.0)
    assert reg.get(f"{M}/{V}/income/rank_window").state["n_seen"] == 1


def test_specs_reject_bad_config() -> None:
    with pytest.raises(ValidationError, match="deltaa"):
        DetectorSpecs.model_validate(
            {"defaults": {"numeric": [{"kind": "adwin", "params": {"deltaa": 1}}]}}
        )
    with pytest.raises(ValidationError, match="binary"):
        DetectorSpecs.model_validate({"defaults": {"numeric": [{"kind": "ddm"}]}})
    with pytest.raises(ValidationError, match="unknown detector kind"):
        DetectorSpecs.model_validate({"defaults": {"numeric": [{"kind": "magic"}]}})
    with pytest.raises(ValidationError, match="max_models"):
        DetectorSpecs.model_validate({"limits": {"max_models": 0}})
