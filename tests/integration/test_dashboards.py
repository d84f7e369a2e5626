"""Grafana dashboards: generated, provisioned, and reading only metrics Guardian exports."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics import MetricWrapperBase

from service.kafka.group_offsets import GroupOffsetMetrics
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
    """(dashboard, panel/variable/annotation, PromQL) for every query of every dashboard."""
    found = []
    for name, dashboard in dashboards().items():
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                found.append((name, panel["title"], target["expr"]))
        for var in dashboard["templating"]["list"]:
            if var["type"] != "query":
                continue
            query = var["query"]["query"]
            assert var["definition"] == query, (name, var["name"])
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
            assert match, f"{name}: variable {var['name']} has an unexpected query {query!r}"
            found.append((name, f"${var['name']}", match.group(1)))
        for annotation in dashboard["annotations"]["list"]:
            if "expr" in annotation:
                found.append((name, f"annotation {annotation['name']}", annotation["expr"]))
    return found


def runnable(expr: str) -> str:
    """A dashboard query as Grafana sends it, with every variable at its "All" value."""
    expr = expr.replace("$__rate_interval", "1m").replace("$__range", "5m")
    return re.sub(r"\$\w+", ".*", expr)


def load_builder() -> Any:
    spec = importlib.util.spec_from_file_location(
        "build_dashboards", GRAFANA / "build_dashboards.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_six_dashboards_with_unique_uids() -> None:
    loaded = dashboards()
    assert set(loaded) == {
        "guardian-sre.json",
        "guardian-overview.json",
        "guardian-drift.json",
        "guardian-fairness.json",
        "guardian-performance.json",
        "guardian-alerts.json",
    }
    uids = [d["uid"] for d in loaded.values()]
    assert len(set(uids)) == len(uids)
    for dashboard in loaded.values():
        assert list(panels(dashboard)), dashboard["uid"]


def test_generated_json_is_up_to_date() -> None:
    module = load_builder()
    for name in module.BUILDERS:
        committed = (GRAFANA / "dashboards" / f"guardian-{name}.json").read_text(encoding="utf-8")
        assert module.render(name) == committed, (
            f"guardian-{name}.json is stale: run python config/grafana/build_dashboards.py"
        )


def test_the_generator_uses_no_third_party_library() -> None:
    modules = sorted(GRAFANA.glob("*.py"))
    assert {m.stem for m in modules} >= {"build_dashboards", "panel_kit"}
    source = "\n".join(m.read_text(encoding="utf-8") for m in modules)
    assert "grafanalib" not in source.replace("grafanalib wrote", "")
    imported = set(re.findall(r"^(?:from|import) (\w+)", source, flags=re.MULTILINE))
    assert imported - {m.stem for m in modules} <= {
        "__future__",
        "argparse",
        "itertools",
        "json",
        "sys",
        "collections",
        "pathlib",
        "typing",
    }, imported


PANEL_TYPES = {"stat", "timeseries", "table", "text"}
THRESHOLD_COLOURS = {"green", "yellow", "orange", "red", "blue"}


def _check_thresholds(where: str, thresholds: dict[str, Any]) -> list[float]:
    assert thresholds["mode"] == "absolute", where
    steps = thresholds["steps"]
    assert steps[0]["value"] is None, f"{where}: the first step is the base (value null)"
    marks = [step["value"] for step in steps[1:]]
    assert marks == sorted(marks) and all(isinstance(m, int | float) for m in marks), where
    assert {step["color"] for step in steps} <= THRESHOLD_COLOURS, where
    return marks


def test_dashboards_follow_grafanas_current_json_model() -> None:
    """The structure Grafana 10.4/11 expects of schemaVersion 39 dashboards."""
    for name, dashboard in dashboards().items():
        assert dashboard["schemaVersion"] >= 39, name
        for key in ("uid", "title", "time", "templating", "annotations", "panels", "refresh"):
            assert key in dashboard, (name, key)
        assert re.fullmatch(r"[a-z0-9-]{1,40}", dashboard["uid"]), name
        ids = [p["id"] for p in panels(dashboard)]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        cells: set[tuple[int, int]] = set()
        for panel in panels(dashboard):
            where = f"{name}: {panel['title']}"
            assert panel["type"] in PANEL_TYPES, where
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, where
            covered = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not covered & cells, f"{where}: overlaps another panel"
            cells |= covered
            refs = [t["refId"] for t in panel.get("targets", [])]
            assert len(refs) == len(set(refs)), where
            if panel["type"] == "text":
                assert panel["options"]["mode"] == "markdown", where
                continue
            assert refs, f"{where}: no query"
            defaults = panel["fieldConfig"]["defaults"]
            _check_thresholds(where, defaults["thresholds"])
            if panel["type"] == "stat":
                assert defaults["color"]["mode"] == "thresholds", f"{where}: stat not coloured"
                assert panel["options"]["colorMode"] in {"background", "value"}, where
                assert len(defaults["thresholds"]["steps"]) >= 1, where
        for annotation in dashboard["annotations"]["list"]:
            assert annotation.get("builtIn") == 1 or annotation["datasource"]["uid"] == (
                DATASOURCE_UID
            ), name


def test_stats_with_a_good_and_bad_side_have_colour_marks() -> None:
    coloured = 0
    for dashboard in dashboards().values():
        for panel in panels(dashboard):
            if panel["type"] == "stat":
                steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
                coloured += len(steps) > 1
    assert coloured >= 15


def _threshold_lines(dashboard: dict[str, Any]) -> dict[str, list[float]]:
    lines = {}
    for panel in panels(dashboard):
        if panel["type"] != "timeseries":
            continue
        defaults = panel["fieldConfig"]["defaults"]
        if defaults["custom"]["thresholdsStyle"]["mode"] in {"line", "dashed"}:
            lines[panel["title"]] = _check_thresholds(panel["title"], defaults["thresholds"])
    return lines


def test_fairness_panels_draw_their_thresholds() -> None:
    lines = _threshold_lines(dashboards()["guardian-fairness.json"])
    assert lines["Demographic parity ratio (four-fifths rule at 0.8)"] == [0.8]
    assert lines["Differences (parity, equal opportunity, equalized odds; 0.1)"] == [0.1]
    assert any(marks == [30] for marks in lines.values())  # min_group_size


def test_sre_overview_has_replicas_rates_lag_runbooks_and_config_changes() -> None:
    sre = dashboards()["guardian-sre.json"]
    exprs = " ".join(e for d, _, e in queries() if d == "guardian-sre.json")
    for needle in (
        'up{job="guardian"}',
        "job:guardian_events_consumed:rate1m",
        "job_model:guardian_events_processed:rate1m",
        "job_topic:guardian_consumer_lag_messages:sum",
        "ALERTS",
    ):
        assert needle in exprs, needle
    (runbooks,) = [p for p in panels(sre) if p["type"] == "text"]
    content = runbooks["options"]["content"]
    for path in (PROJECT_ROOT / "docs" / "runbooks").glob("Guardian*.md"):
        assert f"(${{runbooks}}/{path.name})" in content, path.name
    assert any(v["name"] == "runbooks" for v in sre["templating"]["list"])
    changes = [a for a in sre["annotations"]["list"] if a.get("name") == "Config changes"]
    assert changes and "guardian_config_version" in changes[0]["expr"]


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
        "guardian_consumer_lag_messages",
        "guardian_events_rejected_total",
        "guardian_redactions_total",
        "guardian_event_processing_seconds_bucket",
    ):
        assert metric in exprs, metric
    fairness = " ".join(e for d, _, e in queries() if d == "guardian-fairness.json")
    assert "guardian_fairness_group_rate" in fairness  # with its Wilson bounds (label bound)


def test_text_streams_and_performance_per_segment_are_on_dashboards() -> None:
    """Issue 20: text.<field>.<statistic> streams on Drift; estimates per version and
    per segment (the bounded segment label) on Model performance."""
    drift = [(t, e) for d, t, e in queries() if d == "guardian-drift.json"]
    assert any('feature=~"text\\\\..+"' in e and "guardian_drift_statistic" in e for _, e in drift)
    perf = [(t, e) for d, t, e in queries() if d == "guardian-performance.json"]
    titles = {t for t, _ in perf}
    assert {"Estimated vs realized", "Estimated per segment", "Realized per segment"} <= titles
    assert "Segments below threshold" in titles and "$segment" in titles
    version_level = [e for t, e in perf if t == "Estimated vs realized"]
    assert all('segment="all"' in e for e in version_level)


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
    offsets = GroupOffsetMetrics(metrics.registry)  # the broker's-view lag monitor's
    wrapped: list[Any] = []
    for metric in [*vars(metrics).values(), *vars(offsets).values()]:
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
            prom.wait_for("job_topic:guardian_consumer_lag_messages:sum", timeout=20)
            names = set(prom.get("/api/v1/label/__name__/values")["data"])
            failures = []
            for dashboard, title, expr in queries():
                answer = prom.check_query(runnable(expr))
                if answer.get("status") != "success":
                    failures.append((dashboard, title, answer.get("error")))
                missing = {n for n in metric_names(expr) if ":" not in n and n != "ALERTS"} - names
                if missing:
                    failures.append((dashboard, title, f"not scraped: {sorted(missing)}"))
            assert failures == []
            # a query that reads a metric Guardian does not export is caught
            assert prom.query("guardian_no_such_metric_total") == []
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_the_prometheus_fixture_answers_queries(tmp_path: Path) -> None:
    """Guard rail for the fixture itself: Prometheus starts, answers and stops."""
    with running_prometheus(tmp_path) as prom:
        assert prom.query("vector(1)")[0]["value"][1] == "1"
