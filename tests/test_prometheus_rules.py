"""Shipped Prometheus and Alertmanager config: valid, tested, and reading real metrics."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.alerting.rules import AlertName
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


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-compose.yml"])
def test_promtool_check_config(config: str) -> None:
    run(promtool(), "check", "config", config)


def test_alertmanager_example_config() -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool not installed (apt-get install -y prometheus-alertmanager)")
    run(amtool, "check-config", str(PROJECT_ROOT / "config/alertmanager/alertmanager.yml"))


def test_every_alert_named_in_the_issue_exists_with_summary_and_runbook() -> None:
    rules = {r["alert"]: r for r in alerting_rules()}
    assert {n.value for n in AlertName} | {"GuardianDown"} <= set(rules)
    for name, rule in rules.items():
        annotations = rule["annotations"]
        assert annotations.get("summary"), name
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, name
        assert rule["labels"]["source"] == "prometheus", name
        url = annotations["runbook_url"]
        assert url.endswith(f"/{name}.md"), name
        assert (RUNBOOKS / f"{name}.md").is_file(), f"missing runbook docs/runbooks/{name}.md"


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
