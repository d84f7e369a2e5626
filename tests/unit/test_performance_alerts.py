"""GuardianPerformanceEstimateLow in the alert engine: held from breach to clear."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from detectors.results import PerformanceResult
from service.alerting import AlertEngine, load_rules
from service.alerting.engine import AlertFilter
from service.alerting.rules import AlertName
from service.metrics import GuardianMetrics

T0 = 1_767_225_600.0


def _result(state: str, at: float) -> PerformanceResult:
    return PerformanceResult(
        model="credit-risk",
        version="3",
        metric="accuracy",
        value=0.62,
        threshold=0.8,
        state=state,  # type: ignore[arg-type]
        at=at,
        n=5000,
    )


def test_a_breach_fires_with_its_labels_and_holds_until_the_clear() -> None:
    engine = AlertEngine(load_rules(), GuardianMetrics(CollectorRegistry()))
    name = AlertFilter(alertname=AlertName.PERFORMANCE.value)
    engine.ingest(_result("breach", T0), now=T0)
    engine.tick(now=T0)  # pending -> firing (for: 0)
    (alert,) = engine.list_alerts(name, now=T0)
    assert alert.state == "firing"
    assert alert.labels["model"] == "credit-risk" and alert.labels["version"] == "3"
    assert alert.labels["metric"] == "accuracy"
    assert "0.62" in alert.annotations["description"] and "0.8" in alert.annotations["description"]
    assert alert.runbook_url.endswith("GuardianPerformanceEstimateLow.md")
    engine.tick(now=T0 + 86_400)  # no time-based resolution: the monitor decides
    (held,) = engine.list_alerts(name, now=T0 + 86_400)
    assert held.state == "firing"
    engine.ingest(_result("clear", T0 + 86_500), now=T0 + 86_500)
    engine.tick(now=T0 + 86_500)
    assert [a.state for a in engine.list_alerts(name, now=T0 + 86_500)] == ["resolved"]
    # Alertmanager gets it from the Prometheus rule on guardian_performance_breached.
    assert AlertName.PERFORMANCE.value not in engine.rules.pushed_to_alertmanager()
