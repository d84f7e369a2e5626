"""guardian_fairness_breached: the monitor's decision, exported for alerting.

The Prometheus rule GuardianFairnessBreach reads only this gauge, so it must
carry every part of the decision: minimum group size, confidence, hysteresis
and each model's own thresholds; and it must leave a replica with the model.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from detectors.fairness.config import FairnessConfig
from detectors.fairness.monitor import FairnessMonitor
from service.metrics import GuardianMetrics

RATIO = "demographic_parity_ratio"


def entry(model: str, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": model,
        "attributes": {"gender": ["f", "m"]},
        "window": {"size": 400},
        "evaluate_every": {"events": 100_000},  # the tests evaluate themselves
        "min_group_size": 30,
        "breach_after": 2,
        "clear_after": 2,
        "metrics": {RATIO: 0.8},
    }
    base.update(overrides)
    return base


def monitor_for(*entries: dict[str, Any]) -> tuple[FairnessMonitor, CollectorRegistry]:
    registry = CollectorRegistry()
    config = FairnessConfig.from_mapping({"models": list(entries)})
    return FairnessMonitor(config, GuardianMetrics(registry)), registry


def push(monitor: FairnessMonitor, model: str, rates: dict[str, float], per_group: int) -> None:
    """Exactly ``rate * 10`` of every 10 events of a group are selected."""
    for k in range(per_group):
        for group, rate in rates.items():
            selected = int((k % 10) < round(rate * 10))
            monitor.observe(model, "1", {"gender": group}, selected, ts=float(k))


def breached(registry: CollectorRegistry, model: str) -> float | None:
    return registry.get_sample_value(
        "guardian_fairness_breached", {"model": model, "attribute": "gender", "metric": RATIO}
    )


def test_gauge_follows_the_hysteresis_both_ways() -> None:
    monitor, registry = monitor_for(entry("credit-*"))
    push(monitor, "credit-risk", {"f": 0.2, "m": 0.8}, per_group=100)  # ratio 0.25
    monitor.evaluate()
    assert breached(registry, "credit-risk") == 0  # one breach evaluation of two
    monitor.evaluate()
    assert breached(registry, "credit-risk") == 1
    push(monitor, "credit-risk", {"f": 0.5, "m": 0.5}, per_group=200)  # window now fair
    monitor.evaluate()
    assert breached(registry, "credit-risk") == 1  # one clear evaluation of two
    monitor.evaluate()
    assert breached(registry, "credit-risk") == 0


def test_a_three_event_group_does_not_breach() -> None:
    """Fairlearn's ratio is 0 (a group with no selection), but 3 events decide nothing."""
    monitor, registry = monitor_for(entry("credit-*", breach_after=1))
    push(monitor, "credit-risk", {"m": 0.8}, per_group=100)
    push(monitor, "credit-risk", {"f": 0.0}, per_group=3)
    for _ in range(5):
        monitor.evaluate()
    value = registry.get_sample_value(
        "guardian_fairness_value", {"model": "credit-risk", "attribute": "gender", "metric": RATIO}
    )
    assert value == 0.0  # what a PromQL threshold on the value would have paged on
    assert breached(registry, "credit-risk") == 0


def test_each_model_is_judged_by_its_own_threshold() -> None:
    strict = entry("strict-*", metrics={RATIO: 0.8})
    lenient = entry("lenient-*", metrics={RATIO: 0.3})
    monitor, registry = monitor_for(strict, lenient)
    for model in ("strict-a", "lenient-a"):
        push(monitor, model, {"f": 0.3, "m": 0.7}, per_group=300)  # ratio 0.43
    for _ in range(3):
        monitor.evaluate()
    assert breached(registry, "strict-a") == 1
    assert breached(registry, "lenient-a") == 0


def test_a_threshold_changed_at_runtime_is_honoured() -> None:
    monitor, registry = monitor_for(entry("credit-*", metrics={RATIO: 0.3}))
    push(monitor, "credit-risk", {"f": 0.3, "m": 0.7}, per_group=300)
    monitor.evaluate()
    monitor.evaluate()
    assert breached(registry, "credit-risk") == 0
    monitor.replace_config(
        FairnessConfig.from_mapping({"models": [entry("credit-*", metrics={RATIO: 0.8})]})
    )
    monitor.evaluate()
    monitor.evaluate()
    assert breached(registry, "credit-risk") == 1


def test_series_leave_with_the_model_and_come_back_with_its_state() -> None:
    monitor, registry = monitor_for(entry("credit-*", breach_after=1))
    push(monitor, "credit-risk", {"f": 0.2, "m": 0.8}, per_group=100)
    monitor.evaluate()
    assert breached(registry, "credit-risk") == 1
    saved = monitor.export_state()

    assert monitor.drop_model("credit-risk")  # its partition went to another replica
    assert breached(registry, "credit-risk") is None  # no stale 1 left on this replica

    successor, successor_registry = monitor_for(entry("credit-*", breach_after=1))
    successor.import_state(saved)
    assert breached(successor_registry, "credit-risk") == 1  # before its first evaluation


def test_a_metric_removed_from_the_config_stops_being_exported() -> None:
    both = {RATIO: 0.8, "demographic_parity_difference": 0.1}
    monitor, registry = monitor_for(entry("credit-*", metrics=both, breach_after=1))
    push(monitor, "credit-risk", {"f": 0.2, "m": 0.8}, per_group=100)
    monitor.evaluate()
    labels = {"model": "credit-risk", "attribute": "gender"}
    difference = {**labels, "metric": "demographic_parity_difference"}
    assert registry.get_sample_value("guardian_fairness_breached", difference) == 1
    monitor.replace_config(
        FairnessConfig.from_mapping({"models": [entry("credit-*", metrics={RATIO: 0.8})]})
    )
    assert registry.get_sample_value("guardian_fairness_breached", difference) is None
    assert breached(registry, "credit-risk") == 1
    monitor.reset()
    assert breached(registry, "credit-risk") is None


def test_models_past_the_label_bound_share_a_series_that_any_breach_holds() -> None:
    registry = CollectorRegistry()
    config = FairnessConfig.from_mapping({"models": [entry("*", breach_after=1)]})
    monitor = FairnessMonitor(config, GuardianMetrics(registry, top_k=1))
    push(monitor, "first", {"f": 0.5, "m": 0.5}, per_group=100)  # admitted label value
    push(monitor, "biased", {"f": 0.2, "m": 0.8}, per_group=100)  # folded into __other__
    push(monitor, "fair", {"f": 0.5, "m": 0.5}, per_group=100)  # folded too, evaluated last
    monitor.evaluate()
    assert breached(registry, "first") == 0
    assert breached(registry, "__other__") == 1  # the fair folded model does not hide it
