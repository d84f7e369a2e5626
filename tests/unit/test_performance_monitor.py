"""PerformanceMonitor: bad input, calibration, realized values, alerts, checkpoints, API."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from detectors.performance.config import PerformanceConfig
from detectors.performance.monitor import PerformanceMonitor
from service.api import routes_performance
from service.api.errors import install_error_handlers
from service.metrics import GuardianMetrics

MODEL = "credit-risk"


def _config(**overrides: Any) -> PerformanceConfig:
    entry: dict[str, Any] = {
        "model": "credit-*",
        "window": 2000,
        "evaluate_every": {"events": 500, "labels": 200},
        "calibration": {"method": "isotonic", "min_labels": 300, "refit_every": 300},
    }
    entry.update(overrides)
    return PerformanceConfig.from_mapping({"models": [entry]})


def _stream(
    monitor: PerformanceMonitor, n: int, start: int = 0, seed: int = 0, skew: float = 1.0
) -> dict[str, int]:
    """Feed ``n`` events whose true P(y=1) is ``score ** skew``; return their labels."""
    rng = np.random.default_rng(seed)
    labels: dict[str, int] = {}
    for i in range(start, start + n):
        score = float(rng.random())
        labels[f"e{i}"] = int(rng.random() < score**skew)
        outputs = {"score": score, "prediction": int(score >= 0.5)}
        monitor.observe(MODEL, "1", outputs, event_id=f"e{i}", ts=float(i))
    return labels


@pytest.mark.parametrize(
    "outputs, reason",
    [
        ({"prediction": 1}, "missing"),
        ({"score": None, "prediction": 1}, "missing"),
        ({"score": "0.7", "prediction": 1}, "missing"),
        ({"score": True, "prediction": 1}, "missing"),
        ({"score": 1.5, "prediction": 1}, "out_of_range"),
        ({"score": -0.1, "prediction": 0}, "out_of_range"),
        ({"score": float("nan"), "prediction": 0}, "out_of_range"),
        ({"score": float("inf"), "prediction": 0}, "out_of_range"),
    ],
)
def test_bad_scores_are_counted_and_left_out(outputs: dict[str, Any], reason: str) -> None:
    registry = CollectorRegistry()
    monitor = PerformanceMonitor(_config(), GuardianMetrics(registry))
    monitor.observe(MODEL, "1", {"score": 0.9, "prediction": 1}, event_id="good")
    assert monitor.observe(MODEL, "1", outputs, event_id="bad") == []
    view = monitor.snapshot(MODEL)
    assert view is not None
    assert view["window"]["events"] == 1
    assert view["window"]["excluded"][reason] == 1
    counted = registry.get_sample_value(
        "guardian_performance_scores_excluded_total", {"model": MODEL, "reason": reason}
    )
    assert counted == 1.0


def test_a_model_that_sends_no_scores_is_not_counted_as_bad_input() -> None:
    registry = CollectorRegistry()
    monitor = PerformanceMonitor(_config(), GuardianMetrics(registry))
    for i in range(50):
        monitor.observe(MODEL, "1", {"prediction": i % 2}, event_id=f"e{i}")
    view = monitor.snapshot(MODEL)
    assert view is not None and view["window"]["excluded"] == {"missing": 0, "out_of_range": 0}
    assert view["estimated"]["accuracy"]["reason"] == "no scored events in the window"


def test_until_enough_labels_scores_are_taken_as_calibrated_and_the_answer_says_so() -> None:
    monitor = PerformanceMonitor(_config())
    labels = _stream(monitor, 2000, skew=2.0)
    view = monitor.snapshot(MODEL)
    assert view is not None
    assert view["calibration"]["method"] == "identity"
    assert "taken as calibrated" in view["calibration"]["note"]
    assert all(v["value"] is None for v in view["realized"].values())
    assert view["realized"]["accuracy"]["reason"] == "no joined labels in the window"
    for event_id, label in list(labels.items())[:1000]:
        monitor.join_label(event_id, label, MODEL, "1")
    view = monitor.snapshot(MODEL)
    assert view is not None
    assert view["calibration"]["method"] == "isotonic"
    assert view["calibration"]["fitted_on"] >= 900
    assert "note" not in view["calibration"]


def test_calibrated_estimates_track_realized_values_of_a_miscalibrated_model() -> None:
    monitor = PerformanceMonitor(_config(window=4000))
    labels = _stream(monitor, 4000, skew=3.0)  # over-confident scores
    raw_view = monitor.snapshot(MODEL)
    assert raw_view is not None
    for event_id, label in list(labels.items())[:1500]:
        monitor.join_label(event_id, label, MODEL, "1")
    view = monitor.snapshot(MODEL)
    assert view is not None
    for metric in ("accuracy", "precision", "roc_auc"):
        real = view["realized"][metric]["value"]
        assert real is not None
        assert abs(view["estimated"][metric]["value"] - real) < 0.04, metric
    # uncalibrated, the precision estimate was far off (0.75 against about 0.47)
    real_precision = view["realized"]["precision"]["value"]
    assert abs(raw_view["estimated"]["precision"]["value"] - real_precision) > 0.15


def test_one_class_in_the_labels_answers_what_it_can() -> None:
    monitor = PerformanceMonitor(_config())
    _stream(monitor, 600)
    for i in range(300):
        monitor.join_label(f"e{i}", 1, MODEL, "1")  # every label positive
    view = monitor.snapshot(MODEL)
    assert view is not None
    realized = view["realized"]
    assert realized["accuracy"]["value"] is not None
    assert realized["recall"]["value"] is not None
    assert realized["roc_auc"]["value"] is None
    assert realized["roc_auc"]["reason"] == "labels hold one class only"
    assert view["calibration"]["method"] == "identity"  # no fit on one class, and why
    assert view["calibration"]["note"].endswith("(have 300 positive, 0 negative)")


def test_labels_after_traffic_stopped_update_realized_values_without_new_events() -> None:
    registry = CollectorRegistry()
    monitor = PerformanceMonitor(_config(), GuardianMetrics(registry))
    labels = _stream(monitor, 2000)

    def realized() -> float | None:
        return registry.get_sample_value(
            "guardian_performance_realized",
            {"model": MODEL, "version": "1", "segment": "all", "metric": "accuracy"},
        )

    assert math.isnan(realized() or math.nan)
    for event_id, label in list(labels.items())[:150]:  # fewer than evaluate_every.labels
        monitor.join_label(event_id, label, MODEL, "1")
    assert math.isnan(realized() or math.nan)
    monitor.tick()  # the wall-clock tick
    value = realized()
    assert value is not None and 0.6 < value < 0.9
    estimated = registry.get_sample_value(
        "guardian_performance_estimated",
        {"model": MODEL, "version": "1", "segment": "all", "metric": "accuracy"},
    )
    assert estimated == pytest.approx(0.75, abs=0.03)


def test_an_estimate_below_its_threshold_breaches_after_n_evaluations_and_clears() -> None:
    registry = CollectorRegistry()
    cfg = _config(
        window=1000,
        thresholds={"accuracy": 0.7},
        breach_after=2,
        clear_after=2,
        calibration={"method": "none"},
    )
    monitor = PerformanceMonitor(cfg, GuardianMetrics(registry))
    results = []
    for i in range(3000):  # confident and right: estimated accuracy ~0.9
        s = 0.9 if i % 2 else 0.1
        results += monitor.observe(MODEL, "1", {"score": s, "prediction": int(s > 0.5)}, f"a{i}")
    assert results == []
    for i in range(3000):  # unsure: estimated accuracy 0.55
        s = 0.55 if i % 2 else 0.45
        results += monitor.observe(MODEL, "1", {"score": s, "prediction": int(s > 0.5)}, f"b{i}")
    assert [(r.metric, r.state) for r in results] == [("accuracy", "breach")]
    assert results[0].value < 0.7 and results[0].threshold == 0.7
    breached = {"model": MODEL, "version": "1", "segment": "all", "metric": "accuracy"}
    assert registry.get_sample_value("guardian_performance_breached", breached) == 1.0
    results = []
    for i in range(3000):
        s = 0.9 if i % 2 else 0.1
        results += monitor.observe(MODEL, "1", {"score": s, "prediction": int(s > 0.5)}, f"c{i}")
    assert [(r.metric, r.state) for r in results] == [("accuracy", "clear")]
    assert registry.get_sample_value("guardian_performance_breached", breached) == 0.0


def test_a_checkpoint_keeps_the_window_the_calibrator_and_the_alert_state() -> None:
    cfg = _config(thresholds={"roc_auc": 0.5})
    monitor = PerformanceMonitor(cfg)
    labels = _stream(monitor, 2000, skew=2.0)
    items = list(labels.items())
    for event_id, label in items[:800]:
        monitor.join_label(event_id, label, MODEL, "1")
    before = monitor.snapshot(MODEL)
    restored = PerformanceMonitor(cfg)
    assert restored.import_state(monitor.export_state([MODEL])) == []
    after = restored.snapshot(MODEL)
    assert after is not None and before is not None
    assert after["calibration"] == before["calibration"]
    for metric in ("accuracy", "roc_auc"):
        assert after["estimated"][metric]["value"] == pytest.approx(
            before["estimated"][metric]["value"], abs=1e-5
        )
    assert after["window"]["labelled"] == before["window"]["labelled"]
    # labels still join to events restored from the checkpoint (hashed ids)
    for event_id, label in items[800:1000]:
        restored.join_label(event_id, label, MODEL, "1")
    view = restored.snapshot(MODEL)
    assert view is not None and view["window"]["labelled"] == 1000


@pytest.mark.parametrize(
    "state",
    [
        {"version": 1, "windows": {f"{MODEL}|1": {"window": {"ids": [1], "rows": []}}}},
        {"version": 1, "windows": {f"{MODEL}|1": {"window": {"ids": [1], "rows": [[2.0, 1, 0]]}}}},
        {"version": 1, "windows": {f"{MODEL}|1": {}}},
        {"version": 1, "windows": {"other-model|1": {"window": {"ids": [], "rows": []}}}},
    ],
)
def test_a_malformed_or_foreign_checkpoint_is_refused(state: dict[str, Any]) -> None:
    monitor = PerformanceMonitor(_config())
    assert monitor.import_state(state) == list(state["windows"])
    assert monitor.models == []


def test_windows_are_bounded_and_unmatched_models_ignored() -> None:
    registry = CollectorRegistry()
    cfg = PerformanceConfig.from_mapping({"models": [{"model": "credit-*"}], "max_windows": 2})
    monitor = PerformanceMonitor(cfg, GuardianMetrics(registry))
    for version in ("1", "2", "3"):
        monitor.observe(MODEL, version, {"score": 0.5, "prediction": 1}, "e")
    monitor.observe("chat-bot", "1", {"score": 0.5}, "e")
    assert monitor.versions(MODEL) == ["1", "2"]
    assert monitor.models == [MODEL]
    refused = registry.get_sample_value(
        "guardian_detectors_refused_total", {"limit": "performance_windows"}
    )
    assert refused == 1.0


class _Auth:
    def authenticate(self, request: Any, credentials: Any) -> Any:
        return SimpleNamespace(name="vera", role="viewer")

    def authorize(self, principal: Any, role: str) -> None:
        return None


async def test_the_route_answers_the_latest_version_or_404() -> None:
    monitor = PerformanceMonitor(_config())
    _stream(monitor, 600)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(routes_performance.router)
    app.state.auth = _Auth()
    app.state.ports = SimpleNamespace(performance=monitor)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://guardian") as client:
        got = await client.get(f"/v1/models/{MODEL}/performance")
        assert got.status_code == 200, got.text
        body = got.json()
        assert {"window", "estimated", "realized", "calibration"} <= body.keys()
        assert body["version"] == "1" and body["window"]["events"] == 600
        assert (await client.get("/v1/models/unknown/performance")).status_code == 404
        missing = await client.get(f"/v1/models/{MODEL}/performance", params={"version": "9"})
        assert missing.status_code == 404


def test_a_regression_model_gets_realized_mae_and_rmse_once_labels_join() -> None:
    registry = CollectorRegistry()
    cfg = PerformanceConfig.from_mapping(
        {"models": [{"model": "*", "window": 1000, "evaluate_every": {"labels": 100}}]}
    )
    monitor = PerformanceMonitor(cfg, GuardianMetrics(registry))
    rng = np.random.default_rng(4)
    predictions = rng.normal(50.0, 10.0, 500)
    labels = predictions + rng.normal(0.0, 2.0, 500)
    for i, p in enumerate(predictions):
        monitor.observe("house-price", "2", {"prediction": float(p)}, event_id=f"h{i}")
    monitor.observe("house-price", "2", {"prediction": "high"}, event_id="bad")
    view = monitor.snapshot("house-price")
    assert view is not None and view["task"] == "regression"
    assert view["realized"]["mae"]["reason"] == "no joined labels in the window"
    assert view["window"]["excluded"]["missing"] == 1
    for i in range(300):
        monitor.join_label(f"h{i}", float(labels[i]), "house-price", "2")
    monitor.join_label("h400", "not a number", "house-price", "2")
    view = monitor.snapshot("house-price")
    assert view is not None
    errors = predictions[:300] - labels[:300]
    assert view["realized"]["mae"]["value"] == pytest.approx(np.abs(errors).mean(), rel=1e-9)
    assert view["realized"]["rmse"]["value"] == pytest.approx(np.sqrt((errors**2).mean()), rel=1e-9)
    assert view["realized"]["mae"]["lower"] < view["realized"]["mae"]["value"]
    assert view["estimated"]["mae"]["value"] is None and view["estimated"]["mae"]["reason"]
    assert view["window"]["excluded"]["label_not_numeric"] == 1
    gauge = registry.get_sample_value(
        "guardian_performance_realized",
        {"model": "house-price", "version": "2", "segment": "all", "metric": "rmse"},
    )
    assert gauge == pytest.approx(np.sqrt((errors**2).mean()), rel=1e-9)
    restored = PerformanceMonitor(cfg)
    assert restored.import_state(monitor.export_state()) == []
    again = restored.snapshot("house-price")
    assert again is not None
    assert again["realized"]["rmse"]["value"] == pytest.approx(
        view["realized"]["rmse"]["value"], rel=1e-9
    )


def test_reading_the_view_moves_neither_the_schedule_nor_the_alert_state() -> None:
    cfg = _config(
        window=1000, thresholds={"accuracy": 0.7}, breach_after=3, calibration={"method": "none"}
    )
    monitor = PerformanceMonitor(cfg)
    results = []
    for i in range(1100):  # two scheduled evaluations (every 500 events), all unsure
        s = 0.55 if i % 2 else 0.45
        results += monitor.observe(MODEL, "1", {"score": s, "prediction": int(s > 0.5)}, f"e{i}")
        if i % 50 == 0:
            view = monitor.snapshot(MODEL)  # an API read between evaluations
            assert view is not None
    assert results == []
    view = monitor.snapshot(MODEL)
    assert view is not None and view["window"]["events"] == 1000
    assert view["alerts"]["accuracy"] == {"state": "ok", "breach_run": 2, "clear_run": 0}
