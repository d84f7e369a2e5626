"""Shipped Prometheus and Alertmanager config: valid, tested, and reading real metrics."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.alerting.rules import AlertName, AlertRules
from tests.promql import PROJECT_ROOT, RULES_DIR, known_names, metric_names

PROMETHEUS_DIR = PROJECT_ROOT / "config" / "prometheus"
RUNBOOKS = PROJECT_ROOT / "docs" / "runbooks"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed (apt-get install -y prometheus)")
    return path


def run(*args: str, cwd: Path = PROMETHEUS_DIR) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def all_rules() -> list[dict[str, Any]]:
    rules = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            rules.extend(group["rules"])
    return rules


def alerting_rules() -> list[dict[str, Any]]:
    return [r for r in all_rules() if "alert" in r]


def test_promtool_check_rules() -> None:
    out = run(promtool(), "check", "rules", *map(str, RULE_FILES))
    assert out.count("SUCCESS") == len(RULE_FILES)


def test_promtool_rule_unit_tests() -> None:
    tests = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
    assert tests
    out = run(promtool(), "test", "rules", *map(str, tests))
    assert "SUCCESS" in out and "FAILED" not in out


def test_rule_unit_tests_record_before_they_alert() -> None:
    """Without group_eval_order promtool runs the groups in random order, and an
    alert reading a recorded series sees the previous step in some runs."""
    recording = [
        group["name"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        if all("record" in rule for rule in group["rules"])
    ]
    alerting = [
        group["name"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        if any("alert" in rule for rule in group["rules"])
    ]
    for test_file in sorted((PROMETHEUS_DIR / "tests").glob("*.yml")):
        order = yaml.safe_load(test_file.read_text(encoding="utf-8")).get("group_eval_order", [])
        assert set(order) == set(recording + alerting), test_file.name
        assert max(order.index(g) for g in recording) < min(order.index(g) for g in alerting)


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-compose.yml"])
def test_promtool_check_config(config: str) -> None:
    run(promtool(), "check", "config", config)


def test_alertmanager_example_config() -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool not installed (apt-get install -y prometheus-alertmanager)")
    run(amtool, "check-config", str(PROJECT_ROOT / "config/alertmanager/alertmanager.yml"))


PROMETHEUS_ALERTS = {
    "GuardianDown",
    "GuardianReplicasDown",
    "GuardianKafkaUnreachable",
    "GuardianConsumerLagHigh",
    "GuardianConsumerStalled",
    "GuardianNoPartitionsAssigned",
    "GuardianDLQRateHigh",
    "GuardianRedactionFailures",
    "GuardianModelSilent",
    "GuardianAlertDeliveryFailing",
    "GuardianFairnessBreach",
    "GuardianPerformanceEstimateLow",
    "GuardianPolicyOverride",
    "GuardianConfigRefused",
    "GuardianUndecodableBatch",
}
RUNBOOK_TEMPLATE = (
    "{{ with $externalLabels.runbook_base_url }}{{ . }}{{ else }}docs/runbooks{{ end }}/"
)


def test_every_alert_has_summary_severity_and_a_runbook_link_from_the_external_label() -> None:
    rules = alerting_rules()
    assert {r["alert"] for r in rules} == PROMETHEUS_ALERTS
    for rule in rules:
        name, annotations = rule["alert"], rule["annotations"]
        assert annotations.get("summary") and annotations.get("description"), name
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, name
        assert rule["labels"]["source"] == "prometheus", name
        assert annotations["runbook_url"] == f"{RUNBOOK_TEMPLATE}{name}.md", name
        assert (RUNBOOKS / f"{name}.md").is_file(), f"missing runbook docs/runbooks/{name}.md"


def test_severities_fairness_warns_and_redaction_failures_page_only_on_a_ratio() -> None:
    by_name: dict[str, list[dict[str, Any]]] = {}
    for rule in alerting_rules():
        by_name.setdefault(rule["alert"], []).append(rule)
    (fairness,) = by_name["GuardianFairnessBreach"]
    assert fairness["labels"]["severity"] == "warning"
    assert metric_names(fairness["expr"]) == {"guardian_fairness_breached"}  # the decision
    redaction = {r["labels"]["severity"]: r for r in by_name["GuardianRedactionFailures"]}
    assert set(redaction) == {"warning", "critical"}
    assert "ratio" in redaction["critical"]["expr"] and redaction["critical"]["for"] == "5m"
    assert "increase5m" in redaction["warning"]["expr"]


def test_every_alert_has_a_promtool_unit_test_that_fires_it() -> None:
    tested: set[str] = set()
    for path in (PROMETHEUS_DIR / "tests").glob("*.yml"):
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                for expected in check.get("exp_alerts") or []:
                    tested.add(check["alertname"])
                    assert expected["exp_labels"]["severity"], check["alertname"]
    assert tested == PROMETHEUS_ALERTS


def test_recording_rules_are_named_level_metric_operations() -> None:
    records = [r for r in all_rules() if "record" in r]
    assert records
    known = known_names()
    for rule in records:
        level, metric, operations = rule["record"].split(":")
        assert set(level.split("_")) >= {"job"}, rule["record"]  # the labels kept
        assert operations, rule["record"]
        numerator = metric.split("_per_")[0]  # ratios: <metric>_per_<denominator>
        base = {metric, metric + "_total", metric + "_bucket", numerator + "_total"}
        assert base & known, f"{rule['record']}: {metric} is not a Guardian metric"


def test_no_runbook_or_alerting_link_points_at_example_com() -> None:
    places = [
        PROJECT_ROOT / "config" / "prometheus",
        PROJECT_ROOT / "config" / "alertmanager",
        PROJECT_ROOT / "config" / "grafana",
        PROJECT_ROOT / "config" / "alerts.yaml",
        PROJECT_ROOT / "docs" / "runbooks",
        PROJECT_ROOT / "docs" / "observability.md",
    ]
    for place in places:
        for path in [place] if place.is_file() else place.rglob("*"):
            if path.is_file() and path.suffix in {".yml", ".yaml", ".md", ".json", ".py"}:
                assert "example.com" not in path.read_text(encoding="utf-8"), path
    assert "example" not in AlertRules().runbook_url(AlertName.DRIFT)


def test_rule_expressions_read_only_exported_metrics() -> None:
    known = known_names()
    for rule in all_rules():
        used = metric_names(rule["expr"])
        assert used, rule
        assert used <= known, (rule.get("alert") or rule.get("record"), used - known)


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            'sum by (model) (rate(guardian_events_processed_total{model=~"$model"}[5m]))',
            {"guardian_events_processed_total"},
        ),
        ("a / (b > 0) and on(job) c offset 5m", {"a", "b", "c"}),
        ("histogram_quantile(0.99, sum by (le) (rate(x_bucket[$__rate_interval])))", {"x_bucket"}),
        ("x > 1e-9 or vector(0)", {"x"}),
        ('label_replace(up, "a", "$1", "b", "(.*)")', {"up"}),
    ],
)
def test_metric_name_extraction(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
