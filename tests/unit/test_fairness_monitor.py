"""FairnessMonitor: hysteresis, minimum group size, exported metrics, state."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from fairlearn.metrics import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
)
from prometheus_client import CollectorRegistry, generate_latest

from detectors.fairness.config import FairnessConfig
from detectors.fairness.monitor import FairnessMonitor
from service.metrics import OTHER, GuardianMetrics

MODEL = "credit-risk"


def config(**overrides: object) -> FairnessConfig:
    entry: dict[str, object] = {
        "model": "credit-*",
        "attributes": {"gender": ["f", "m"]},
        "window": {"size": 200},
        "evaluate_every": {"events": 10_000},  # tests call evaluate() themselves
        "min_group_size": 30,
        "breach_after": 3,
        "clear_after": 2,
        "metrics": {"demographic_parity_ratio": 0.8, "demographic_parity_difference": 0.1},
    }
    entry.update(overrides)
    return FairnessConfig.from_mapping({"models": [entry]})


class Stream:
    """Deterministic events: exactly ``rate * 10`` of every 10 events of a group are selected."""

    def __init__(self, monitor: FairnessMonitor) -> None:
        self.monitor = monitor
        self.i = 0

    def push(self, rates: dict[str, float], per_group: int, **extra: object) -> list:
        results = []
        for k in range(per_group):
            for group, rate in rates.items():
                selected = int((k % 10) < round(rate * 10))
                results += self.monitor.observe(
                    MODEL,
                    "1.0",
                    {"gender": group, **extra},
                    selected,
                    event_id=f"e{self.i}",
                    ts=float(self.i),
                )
                self.i += 1
        return results


def test_breach_needs_n_consecutive_confident_evaluations_and_clears_after_n() -> None:
    monitor = FairnessMonitor(config(), metrics=None)
    stream = Stream(monitor)
    stream.push({"f": 0.2, "m": 0.8}, per_group=100)  # ratio 0.25, far past 0.8
    assert monitor.evaluate() == []
    assert monitor.evaluate() == []
    results = monitor.evaluate()
    assert {(r.metric, r.state) for r in results} == {
        ("demographic_parity_ratio", "breach"),
        ("demographic_parity_difference", "breach"),
    }
    ratio = next(r for r in results if r.metric == "demographic_parity_ratio")
    assert ratio.value == pytest.approx(0.25)
    assert ratio.threshold == 0.8 and ratio.model == MODEL and ratio.version == "1.0"
    assert ratio.groups == {"f": 100, "m": 100}
    assert monitor.evaluate() == []  # already breached: no repeated transition

    stream.push({"f": 0.5, "m": 0.5}, per_group=100)  # the window is now entirely fair
    assert monitor.evaluate() == []
    cleared = monitor.evaluate()
    assert {(r.metric, r.state) for r in cleared} == {
        ("demographic_parity_ratio", "clear"),
        ("demographic_parity_difference", "clear"),
    }


def test_confident_clearing_waits_for_enough_evidence() -> None:
    cfg = config(clear_on="confident", breach_after=1, clear_after=1)
    monitor = FairnessMonitor(cfg, None)
    stream = Stream(monitor)
    stream.push({"f": 0.2, "m": 0.8}, per_group=100)
    assert len(monitor.evaluate()) == 2
    stream.push({"f": 0.5, "m": 0.5}, per_group=100)  # window entirely fair, but small
    snap = monitor.snapshot(MODEL)
    assert snap["attributes"]["gender"]["metrics"]["demographic_parity_ratio"]["value"] == 1.0
    assert monitor.evaluate() == []  # 100 per group: intervals too wide to be sure
    monitor.replace_config(
        config(clear_on="confident", breach_after=1, clear_after=1, window={"size": 2000})
    )
    stream.push({"f": 0.5, "m": 0.5}, per_group=900)  # 1000 fair events per group
    assert {r.state for r in monitor.evaluate()} == {"clear"}


def test_inconclusive_evaluation_resets_the_run() -> None:
    monitor = FairnessMonitor(config(), metrics=None)
    stream = Stream(monitor)
    stream.push({"f": 0.2, "m": 0.8}, per_group=100)
    monitor.evaluate()
    monitor.evaluate()
    monitor.reset(MODEL)  # window empties: no verdict possible, the run is lost
    stream.push({"f": 0.2, "m": 0.8}, per_group=100)
    assert monitor.evaluate() == [] and monitor.evaluate() == []
    assert len(monitor.evaluate()) == 2


def test_no_verdict_below_min_group_size() -> None:
    monitor = FairnessMonitor(config(min_group_size=30), metrics=None)
    stream = Stream(monitor)
    stream.push({"f": 0.0, "m": 1.0}, per_group=29)  # as biased as it gets, but small
    for _ in range(5):
        assert monitor.evaluate() == []
    snap = monitor.snapshot(MODEL)
    assert snap is not None
    ratio = snap["attributes"]["gender"]["metrics"]["demographic_parity_ratio"]
    assert ratio["value"] == 0.0 and ratio["evidence"] == "insufficient"
    stream.push({"f": 0.0, "m": 1.0}, per_group=1)  # 30 each: now eligible
    for _ in range(2):
        assert monitor.evaluate() == []
    assert len(monitor.evaluate()) == 2


def test_point_estimate_past_threshold_without_confidence_does_not_breach() -> None:
    # ratio 0.7 / 0.9 = 0.78 < 0.8, but with 40 per group the intervals overlap widely
    monitor = FairnessMonitor(config(min_group_size=10), metrics=None)
    Stream(monitor).push({"f": 0.7, "m": 0.9}, per_group=40)
    for _ in range(5):
        assert monitor.evaluate() == []
    snap = monitor.snapshot(MODEL)
    metrics = snap["attributes"]["gender"]["metrics"]
    assert metrics["demographic_parity_ratio"]["value"] < 0.8
    assert metrics["demographic_parity_ratio"]["evidence"] == "inconclusive"


def test_observe_evaluates_every_k_events_on_its_own() -> None:
    monitor = FairnessMonitor(config(evaluate_every={"events": 50}, breach_after=2), None)
    results = Stream(monitor).push({"f": 0.1, "m": 0.9}, per_group=100)  # 200 events, 4 evals
    assert sorted(r.metric for r in results) == [
        "demographic_parity_difference",
        "demographic_parity_ratio",
    ]
    assert all(r.at < 200 for r in results)


def test_time_schedule_and_tick_drain_a_time_window_then_clear() -> None:
    monitor = FairnessMonitor(
        config(
            window={"size": None, "seconds": 300.0},
            evaluate_every={"events": 10_000, "seconds": 60.0},
            breach_after=1,
            clear_after=1,
        ),
        None,
    )
    stream = Stream(monitor)
    results = stream.push({"f": 0.1, "m": 0.9}, per_group=50)  # ts 0..99, evaluated at 0 and 60
    assert {(r.state, r.at) for r in results} == {("breach", 60.0)}
    assert monitor.tick(100.0) == []  # not due (last evaluation at 60)
    assert monitor.tick(1000.0) == []  # window drained: no verdict, the breach stands
    snap = monitor.snapshot(MODEL)
    assert snap["events"] == 0
    assert snap["attributes"]["gender"]["metrics"]["demographic_parity_ratio"]["state"] == "breach"
    stream.i = 2000
    results = stream.push({"f": 0.5, "m": 0.5}, per_group=50)  # ts 2000..2099
    assert {(r.state, r.at) for r in results} == {("clear", 2060.0)}
    assert monitor.tick(2200.0) == []


def test_labelled_metrics_use_joined_labels() -> None:
    cfg = config(
        metrics={"equalized_odds_difference": 0.1, "equal_opportunity_difference": 0.1},
        breach_after=1,
        window={"size": 400},
    )
    monitor = FairnessMonitor(cfg, None)
    labels = {i: int(i % 4 < 2) for i in range(400)}  # both groups: half positive
    for i in range(400):
        group = "fm"[i % 2]
        prediction = labels[i] if group == "f" else 1  # f perfect; m always approves
        monitor.observe(MODEL, "1", {"gender": group}, prediction, event_id=f"e{i}", ts=float(i))
    assert monitor.evaluate() == []  # no labels yet
    snap = monitor.snapshot(MODEL)
    assert snap["attributes"]["gender"]["metrics"]["equalized_odds_difference"]["value"] is None
    for i in range(400):
        assert monitor.observe_label(f"e{i}", labels[i], model=MODEL)
    assert not monitor.observe_label("unknown", 1)
    results = monitor.evaluate()
    assert [(r.metric, r.value) for r in results] == [("equalized_odds_difference", 1.0)]
    snap = monitor.snapshot(MODEL)
    m = snap["attributes"]["gender"]["groups"]["m"]
    assert m["false_positive_rate"]["value"] == 1.0 and m["true_positive_rate"]["value"] == 1.0


def test_a_group_without_label_negatives_cannot_carry_a_verdict() -> None:
    # Fairlearn gives a group with no negative labels FPR 0.0 (sklearn's 0/0 -> 0),
    # so the value is 1.0; the verdict must not rest on that artefact.
    cfg = config(metrics={"equalized_odds_difference": 0.1}, breach_after=1)
    monitor = FairnessMonitor(cfg, None)
    for i in range(200):
        group = "fm"[i % 2]
        monitor.observe(MODEL, "1", {"gender": group}, 1, event_id=f"e{i}", ts=float(i))
        monitor.observe_label(f"e{i}", 1 if group == "f" else i % 4 == 1)
    assert monitor.evaluate() == []
    snap = monitor.snapshot(MODEL)
    eod = snap["attributes"]["gender"]["metrics"]["equalized_odds_difference"]
    assert eod["value"] == 1.0 and eod["evidence"] == "inconclusive"


def test_gauges_agree_with_fairlearn_and_use_its_metric_names() -> None:
    registry = CollectorRegistry()
    metrics = GuardianMetrics(registry)
    cfg = config(
        attributes={"gender": ["f", "m", "x"]},
        metrics={
            "demographic_parity_ratio": 0.8,
            "demographic_parity_difference": 0.1,
            "equalized_odds_difference": 0.1,
        },
        breach_after=1,
    )
    monitor = FairnessMonitor(cfg, metrics)
    rng = np.random.default_rng(3)
    raws, preds, labels = [], [], []
    for i in range(200):
        raw = str(rng.choice(["f", "m", "x", "Female", "unknown"]))
        pred = int(rng.random() < (0.3 if raw == "f" else 0.6))
        label = int(rng.random() < 0.5)
        monitor.observe(MODEL, "1", {"gender": raw}, pred, event_id=f"e{i}", ts=float(i))
        monitor.observe_label(f"e{i}", label)
        raws.append(raw if raw in ("f", "m", "x") else OTHER)
        preds.append(pred)
        labels.append(label)
    monitor.evaluate()

    def gauge(metric: str) -> float:
        value = registry.get_sample_value(
            "guardian_fairness_value",
            {"model": MODEL, "attribute": "gender", "metric": metric},
        )
        assert value is not None
        return value

    y = np.array(labels)
    p = np.array(preds)
    assert gauge("demographic_parity_ratio") == pytest.approx(
        demographic_parity_ratio(y, p, sensitive_features=raws), abs=1e-9
    )
    assert gauge("demographic_parity_difference") == pytest.approx(
        demographic_parity_difference(y, p, sensitive_features=raws), abs=1e-9
    )
    assert gauge("equalized_odds_difference") == pytest.approx(
        equalized_odds_difference(y, p, sensitive_features=raws), abs=1e-9
    )
    count_f = registry.get_sample_value(
        "guardian_fairness_group_events", {"model": MODEL, "attribute": "gender", "group": "f"}
    )
    assert count_f == raws.count("f")
    other_rate = registry.get_sample_value(
        "guardian_fairness_group_rate",
        {
            "model": MODEL,
            "attribute": "gender",
            "group": OTHER,
            "rate": "selection_rate",
            "bound": "upper",
        },
    )
    assert other_rate is not None and 0 < other_rate <= 1
    exposition = generate_latest(registry).decode()
    # as label values: a group outside the configured ones never becomes a series
    assert '"Female"' not in exposition and '"unknown"' not in exposition


def test_breach_counter_increments_once_per_breach() -> None:
    registry = CollectorRegistry()
    monitor = FairnessMonitor(config(breach_after=1), GuardianMetrics(registry))
    Stream(monitor).push({"f": 0.1, "m": 0.9}, per_group=100)
    monitor.evaluate()
    monitor.evaluate()
    assert (
        registry.get_sample_value(
            "guardian_fairness_breaches_total",
            {"model": MODEL, "attribute": "gender", "metric": "demographic_parity_ratio"},
        )
        == 1.0
    )


def test_unmonitored_and_excess_models_are_ignored() -> None:
    registry = CollectorRegistry()
    cfg = FairnessConfig.from_mapping(
        {"max_models": 2, "models": [{"model": "credit-*", "attributes": {"g": ["a"]}}]}
    )
    monitor = FairnessMonitor(cfg, GuardianMetrics(registry))
    assert monitor.observe("chatbot", "1", {"g": "a"}, 1, event_id="x", ts=0.0) == []
    for name in ("credit-a", "credit-b", "credit-c"):
        monitor.observe(name, "1", {"g": "a"}, 1, event_id=name, ts=0.0)
    assert monitor.models == ["credit-a", "credit-b"]
    assert (
        registry.get_sample_value("guardian_detectors_refused_total", {"limit": "fairness_models"})
        == 1.0
    )


def test_state_export_import_keeps_breach_and_window() -> None:
    monitor = FairnessMonitor(config(breach_after=1), None)
    Stream(monitor).push({"f": 0.1, "m": 0.9}, per_group=100)
    assert len(monitor.evaluate()) == 2
    state = json.loads(json.dumps(monitor.export_state()))
    restored = FairnessMonitor(config(breach_after=1), None)
    restored.import_state(state)
    assert restored.snapshot(MODEL) == monitor.snapshot(MODEL)
    assert restored.evaluate() == []  # still breached: no second breach after a restart


def test_replace_config_keeps_windows_and_applies_new_thresholds() -> None:
    monitor = FairnessMonitor(config(breach_after=1), None)
    Stream(monitor).push({"f": 0.6, "m": 0.9}, per_group=100)  # ratio 0.667
    results = monitor.evaluate()
    assert {r.metric for r in results} == {"demographic_parity_difference"}
    monitor.replace_config(
        config(
            breach_after=1,
            metrics={"demographic_parity_ratio": 0.5, "demographic_parity_difference": 0.5},
        )
    )
    snap = monitor.snapshot(MODEL)
    assert snap["events"] == 200
    assert snap["attributes"]["gender"]["metrics"]["demographic_parity_ratio"]["threshold"] == 0.5
    assert monitor.evaluate() == []


def test_snapshot_is_json_and_reports_wilson_intervals() -> None:
    monitor = FairnessMonitor(config(), None)
    Stream(monitor).push({"f": 0.5, "m": 0.5}, per_group=40)
    monitor.observe(MODEL, "1", {"gender": "m"}, 1, event_id="extra", ts=1e3)
    snap = monitor.snapshot(MODEL)
    json.dumps(snap)
    f = snap["attributes"]["gender"]["groups"]["f"]
    assert f["counts"]["n"] == 40
    sel = f["selection_rate"]
    assert sel["lower"] < sel["value"] == 0.5 < sel["upper"]
    assert f["true_positive_rate"] is None
    assert monitor.snapshot("unknown") is None
    assert math.isclose(snap["confidence"], 0.95)


def test_fair_and_biased_models_side_by_side_agree_with_fairlearn() -> None:
    """The issue's acceptance scenario without Kafka: gauges == Fairlearn, only bias breaches."""
    registry = CollectorRegistry()
    cfg = FairnessConfig.from_mapping(
        {
            "models": [
                {
                    "model": "*",
                    "attributes": {"gender": ["f", "m", "x"]},
                    "window": {"size": 3000},
                    "evaluate_every": {"events": 250},
                }
            ]
        }
    )
    monitor = FairnessMonitor(cfg, GuardianMetrics(registry))
    rng = np.random.default_rng(42)
    seen: dict[str, tuple[list[str], list[int], list[int]]] = {
        "fair-model": ([], [], []),
        "biased-model": ([], [], []),
    }
    breaches: list[tuple[str, str]] = []
    for i in range(3000):
        for model, (sens, preds, ys) in seen.items():
            group = str(rng.choice(["f", "m", "x"], p=[0.45, 0.45, 0.1]))
            y = int(rng.random() < 0.5)
            tpr = 0.45 if model == "biased-model" and group == "f" else 0.85
            pred = int(rng.random() < (tpr if y else 0.15))
            breaches += [
                (r.model, r.metric)
                for r in monitor.observe(
                    model, "1", {"gender": group}, pred, event_id=f"{model}{i}", ts=float(i)
                )
            ]
            monitor.observe_label(f"{model}{i}", y)
            sens.append(group)
            preds.append(pred)
            ys.append(y)
    breaches += [(r.model, r.metric) for r in monitor.evaluate()]
    assert {m for m, _ in breaches} == {"biased-model"}
    assert ("biased-model", "equalized_odds_difference") in breaches
    assert ("biased-model", "demographic_parity_ratio") in breaches
    for model, (sens, preds, ys) in seen.items():
        for metric, oracle in (
            ("demographic_parity_ratio", demographic_parity_ratio),
            ("demographic_parity_difference", demographic_parity_difference),
            ("equalized_odds_difference", equalized_odds_difference),
        ):
            gauge = registry.get_sample_value(
                "guardian_fairness_value",
                {"model": model, "attribute": "gender", "metric": metric},
            )
            expected = oracle(np.array(ys), np.array(preds), sensitive_features=sens)
            assert gauge == pytest.approx(expected, abs=1e-9)


def test_intersectional_attribute_is_monitored() -> None:
    cfg = config(
        attributes={"gender": ["f", "m"], "age_band": ["young", "old"]},
        intersections=[["gender", "age_band"]],
        breach_after=1,
        min_group_size=20,
    )
    monitor = FairnessMonitor(cfg, None)
    i = 0
    for _ in range(25):
        for gender in ("f", "m"):
            for age in ("young", "old"):
                # only old women are rarely approved (1 in 10)
                selected = int(not (gender == "f" and age == "old") or i % 10 == 0)
                monitor.observe(
                    MODEL,
                    "1",
                    {"gender": gender, "age_band": age},
                    selected,
                    event_id=f"e{i}",
                    ts=float(i),
                )
                i += 1
    results = monitor.evaluate()
    assert {(r.attribute, r.metric) for r in results} >= {
        ("gender&age_band", "demographic_parity_ratio")
    }
    groups = monitor.snapshot(MODEL)["attributes"]["gender&age_band"]["groups"]
    assert groups["f&old"]["counts"]["n"] == 25
