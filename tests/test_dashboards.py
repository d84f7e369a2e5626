"""Grafana dashboards: generated, provisioned, and reading only metrics Guardian exports."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics import MetricWrapperBase

from service.metric_kinds import Renamed
from service.metrics import GuardianMetrics
from tests.promql import PROJECT_ROOT, RULES_DIR, known_names, metric_names
from tests.promstack import free_port, running_prometheus

GRAFANA = PROJECT_ROOT / "config" / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCE_UID = "guardian-prometheus"


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in DASHBOARD_FILES}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel or variable title, PromQL) for every query of every dashboard."""
    found = []
    for name, dashboard in dashboards().items():
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                found.append((name, panel["title"], target["expr"]))
        for var in dashboard["templating"]["list"]:
            query = var["query"]
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
            assert match, f"{name}: variable {var['name']} has an unexpected query {query!r}"
            found.append((name, f"${var['name']}", match.group(1)))
    return found


def runnable(expr: str) -> str:
    """A dashboard query as Grafana sends it, with every variable at its "All" value."""
    expr = expr.replace("$__rate_interval", "1m").replace("$__range", "5m")
    return re.sub(r"\$\w+", ".*", expr)


def test_four_dashboards_with_unique_uids() -> None:
    loaded = dashboards()
    assert set(loaded) == {
        "guardian-overview.json",
        "guardian-drift.json",
        "guardian-fairness.json",
        "guardian-alerts.json",
    }
    uids = [d["uid"] for d in loaded.values()]
    assert len(set(uids)) == len(uids)
    for dashboard in loaded.values():
        assert list(panels(dashboard)), dashboard["uid"]


def test_generated_json_is_up_to_date() -> None:
    pytest.importorskip("grafanalib", reason="grafanalib (dev extra) regenerates the dashboards")
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "build_dashboards", GRAFANA / "build_dashboards.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in module.BUILDERS:
        committed = (GRAFANA / "dashboards" / f"guardian-{name}.json").read_text(encoding="utf-8")
        assert module.render(name) == committed, (
            f"guardian-{name}.json is stale: run python config/grafana/build_dashboards.py"
        )


def test_every_query_reads_only_exported_metrics() -> None:
    known = known_names()
    found = queries()
    assert len(found) > 30
    for dashboard, title, expr in found:
        used = metric_names(expr)
        assert used, (dashboard, title, expr)
        assert used <= known, (dashboard, title, used - known)


def test_overview_covers_what_the_issue_asks() -> None:
    exprs = " ".join(e for d, _, e in queries() if d == "guardian-overview.json")
    for metric in (
        "guardian_events_processed_total",
        "guardian_consumer_lag",
        "guardian_events_rejected_total",
        "guardian_redactions_total",
        "guardian_processing_seconds_bucket",
    ):
        assert metric in exprs, metric
    fairness = " ".join(e for d, _, e in queries() if d == "guardian-fairness.json")
    assert "guardian_fairness_group_rate" in fairness  # with its Wilson bounds (label bound)


def test_panels_use_the_provisioned_datasource() -> None:
    provisioned = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text(encoding="utf-8")
    )
    (datasource,) = provisioned["datasources"]
    assert datasource["uid"] == DATASOURCE_UID
    assert datasource["type"] == "prometheus"
    for name, dashboard in dashboards().items():
        for panel in panels(dashboard):
            assert panel["datasource"]["uid"] == DATASOURCE_UID, (name, panel["title"])
            for target in panel.get("targets", []):
                assert target["datasource"]["uid"] == DATASOURCE_UID, (name, panel["title"])
    providers = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "guardian.yml").read_text(encoding="utf-8")
    )
    assert providers["providers"][0]["type"] == "file"


def populated_metrics() -> GuardianMetrics:
    """Every Guardian metric with one series, as a running Guardian would expose them."""
    metrics = GuardianMetrics(CollectorRegistry())
    metrics.observe_processing(5, 0.02)  # the per-batch and the per-message histograms
    wrapped: list[Any] = []
    for metric in vars(metrics).values():
        if isinstance(metric, Renamed):  # the current name and its deprecated duplicate
            wrapped += [metric.current, metric.deprecated]
        elif isinstance(metric, MetricWrapperBase):
            wrapped.append(metric)
    for metric in wrapped:
        if metric._type == "info":
            continue
        names = metric._labelnames
        child = metric.labels(*["demo"] * len(names)) if names else metric
        kind = metric._type
        if kind == "counter":
            child.inc(3)  # type: ignore[union-attr]
        elif kind == "gauge":
            child.set(0.5)  # type: ignore[union-attr]
        else:
            child.observe(0.01)  # type: ignore[union-attr]
    return metrics


def test_every_query_runs_on_a_real_prometheus(tmp_path: Path) -> None:
    metrics = populated_metrics()
    port = free_port()
    httpd, thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    try:
        with running_prometheus(
            tmp_path,
            targets=[f"127.0.0.1:{port}"],
            rule_files=sorted(RULES_DIR.glob("*.yml")),
        ) as prom:
            prom.wait_for('up{job="guardian"} == 1', timeout=20)
            prom.wait_for("guardian:consumer_lag:sum", timeout=20)
            names = set(prom.get("/api/v1/label/__name__/values")["data"])
            failures = []
            for dashboard, title, expr in queries():
                answer = prom.check_query(runnable(expr))
                if answer.get("status") != "success":
                    failures.append((dashboard, title, answer.get("error")))
                missing = {
                    n for n in metric_names(expr) if not n.startswith(("guardian:", "ALERTS"))
                } - names
                if missing:
                    failures.append((dashboard, title, f"not scraped: {sorted(missing)}"))
            assert failures == []
            # a query that reads a metric Guardian does not export is caught
            assert prom.query("guardian_no_such_metric_total") == []
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_scrape_is_quick_to_come_up(tmp_path: Path) -> None:
    """Guard rail for the fixture itself: Prometheus starts and stops in seconds."""
    started = time.monotonic()
    with running_prometheus(tmp_path) as prom:
        assert prom.query("vector(1)")[0]["value"][1] == "1"
    assert time.monotonic() - started < 20
