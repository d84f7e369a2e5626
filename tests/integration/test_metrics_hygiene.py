"""Metric hygiene: what /metrics exposes passes ``promtool check metrics``, names carry units.

The exposition checked is a GuardianMetrics registry after the code paths that
write to it ran (fairness monitor, alert engine, batch bookkeeping, the label
bound), rendered by the same ``make_asgi_app`` Guardian mounts at ``/metrics``.
"""

from __future__ import annotations

import platform
import shutil
import subprocess

import httpx
import pytest
from prometheus_client import CollectorRegistry, disable_created_metrics, make_asgi_app
from prometheus_client.parser import text_string_to_metric_families

from detectors.fairness.config import FairnessConfig
from detectors.fairness.monitor import FairnessMonitor
from detectors.results import DriftResult
from service.alerting import AlertEngine, AlertRules
from service.metrics import GuardianMetrics, guardian_version
from tests.integration.test_dashboards import populated_metrics


def exercised() -> GuardianMetrics:
    disable_created_metrics()  # type: ignore[no-untyped-call]  # as Guardian does
    metrics = populated_metrics()
    monitor = FairnessMonitor(
        FairnessConfig.from_mapping(
            {"models": [{"model": "*", "attributes": {"gender": ["f", "m"]}, "breach_after": 1}]}
        ),
        metrics,
    )
    for i in range(400):
        group = "f" if i % 2 else "m"
        monitor.observe(
            "credit-risk", "1", {"gender": group}, int(i % 10 < (2 if group == "f" else 8))
        )
    monitor.evaluate()
    engine = AlertEngine(AlertRules(), metrics)
    engine.ingest(DriftResult("credit-risk", "1", "age", "adwin", "id", 0.3, 100.0, 500), now=100.0)
    engine.tick(100.0)
    for i in range(metrics.model_label.top_k + 3):
        metrics.model_label(f"model-{i}")
    metrics.refresh_overflow()
    return metrics


async def scrape(metrics: GuardianMetrics) -> str:
    transport = httpx.ASGITransport(app=make_asgi_app(metrics.registry))
    async with httpx.AsyncClient(transport=transport, base_url="http://guardian") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    return response.text


async def test_promtool_check_metrics_is_clean() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (apt-get install -y prometheus)")
    text = await scrape(exercised())
    assert "guardian_fairness_breached{" in text  # the exercised paths really wrote
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_would_catch_a_bad_name() -> None:
    """Guard the guard: the linter rejects what the old exposition had."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (apt-get install -y prometheus)")
    bad = "# HELP guardian_fairness_group_count x\n# TYPE guardian_fairness_group_count gauge\n"
    bad += 'guardian_fairness_group_count{group="f"} 3\n'
    done = subprocess.run(
        [promtool, "check", "metrics"], input=bad, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "_count" in done.stdout + done.stderr


async def test_build_info_process_and_platform_collectors() -> None:
    families = {f.name: f for f in text_string_to_metric_families(await scrape(exercised()))}
    (build,) = families["guardian_build_info"].samples
    assert build.labels == {"version": guardian_version(), "python": platform.python_version()}
    assert build.value == 1
    assert "python_info" in families
    if platform.system() == "Linux":
        assert families["process_resident_memory_bytes"].samples[0].value > 0
        assert "process_cpu_seconds" in families


def test_units_in_names_and_deprecated_duplicates_for_one_release() -> None:
    metrics = GuardianMetrics(CollectorRegistry())
    metrics.consumer_lag.labels("inference.events", "0").set(42)
    metrics.batch_size.observe(7)
    r = metrics.registry
    labels = {"topic": "inference.events", "partition": "0"}
    assert r.get_sample_value("guardian_consumer_lag_messages", labels) == 42
    assert r.get_sample_value("guardian_consumer_lag", labels) == 42  # deprecated duplicate
    assert r.get_sample_value("guardian_batch_size_messages_sum") == 7
    assert r.get_sample_value("guardian_batch_size_sum") == 7  # deprecated duplicate
    helps = {f.name: f.documentation for f in r.collect()}
    assert helps["guardian_consumer_lag"].startswith("DEPRECATED")
    assert helps["guardian_batch_size"].startswith("DEPRECATED")
    metrics.consumer_lag.remove("inference.events", "0")  # a revoked partition leaves both
    assert r.get_sample_value("guardian_consumer_lag_messages", labels) is None
    assert r.get_sample_value("guardian_consumer_lag", labels) is None
    # code that reads the lag back (the health loop) sees it once, under the new name
    assert [f.name for f in metrics.consumer_lag.collect()] == ["guardian_consumer_lag_messages"]


def test_per_message_latency_counts_every_message_of_a_batch() -> None:
    metrics = GuardianMetrics(CollectorRegistry())
    metrics.observe_processing(messages=250, seconds=0.4)
    metrics.observe_processing(messages=0, seconds=0.1)  # a batch of labels only
    r = metrics.registry
    assert r.get_sample_value("guardian_processing_seconds_count") == 2  # per batch
    assert r.get_sample_value("guardian_event_processing_seconds_count") == 250  # per message
    assert r.get_sample_value("guardian_event_processing_seconds_sum") == pytest.approx(100.0)
    assert r.get_sample_value("guardian_event_processing_seconds_bucket", {"le": "0.25"}) == 0
    assert r.get_sample_value("guardian_event_processing_seconds_bucket", {"le": "0.5"}) == 250
    assert r.get_sample_value("guardian_event_processing_seconds_bucket", {"le": "+Inf"}) == 250


def test_folded_label_values_are_a_counter() -> None:
    metrics = GuardianMetrics(CollectorRegistry(), top_k=2)
    for name in ("a", "b", "c", "d", "c"):
        metrics.model_label(name)
    metrics.refresh_overflow()
    metrics.refresh_overflow()  # idempotent: nothing new was folded
    r = metrics.registry
    assert r.get_sample_value("guardian_label_values_folded_total", {"label": "model"}) == 3
    assert r.get_sample_value("guardian_label_values_folded_total", {"label": "feature"}) == 0
    metrics.model_label("e")
    metrics.refresh_overflow()
    assert r.get_sample_value("guardian_label_values_folded_total", {"label": "model"}) == 4
