"""config/alertmanager/alertmanager.yml checked with Alertmanager's own amtool.

Routing is proven with ``amtool config routes test`` for every alert Guardian
can raise; inhibition with the labels the alerts really carry (the labels the
promtool unit tests expect, and the engine's drift labels): an ``equal`` label
that one side lacks would make the rule match nothing (or everything).
The behaviour itself runs on a real Alertmanager in tests/e2e/test_observability_stack.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.promql import PROJECT_ROOT

CONFIG = PROJECT_ROOT / "config" / "alertmanager" / "alertmanager.yml"
UNIT_TESTS = PROJECT_ROOT / "config" / "prometheus" / "tests"

#: Labels of the one alert the engine pushes (service/alerting/engine.py).
ENGINE_DRIFT = {
    "alertname": "GuardianDriftDetected",
    "model": "credit-risk",
    "version": "3.2.0",
    "feature": "age",
    "detector": "adwin",
    "severity": "warning",
    "source": "guardian",
}


#: Labels that say what an alert is about.
IDENTITY = frozenset({"model", "feature", "attribute", "metric", "topic", "sink", "instance"})


def amtool() -> str:
    path = shutil.which("amtool")
    if path is None:
        pytest.skip("amtool not installed (apt-get install -y prometheus-alertmanager)")
    return path


def alert_label_sets() -> list[dict[str, str]]:
    """Every label set the promtool tests expect an alert to fire with, plus the engine's."""
    found: list[dict[str, str]] = [ENGINE_DRIFT]
    for path in UNIT_TESTS.glob("*.yml"):
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                for expected in check.get("exp_alerts") or []:
                    found.append({"alertname": check["alertname"], **expected["exp_labels"]})
    return found


def route(labels: dict[str, str]) -> str:
    args = [f"{k}={v}" for k, v in labels.items()]
    done = subprocess.run(
        [amtool(), "config", "routes", "test", f"--config.file={CONFIG}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def test_amtool_check_config() -> None:
    done = subprocess.run(
        [amtool(), "check-config", str(CONFIG)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        # model behaviour goes to its owners, never to the pager
        ({"alertname": "GuardianFairnessBreach", "severity": "warning"}, "model-owners"),
        (ENGINE_DRIFT, "model-owners"),
        ({"alertname": "GuardianDown", "severity": "critical"}, "guardian-pager"),
        ({"alertname": "GuardianKafkaUnreachable", "severity": "critical"}, "guardian-pager"),
        ({"alertname": "GuardianRedactionFailures", "severity": "critical"}, "guardian-pager"),
        # one failure warns on-call's channel
        ({"alertname": "GuardianRedactionFailures", "severity": "warning"}, "guardian-oncall"),
        ({"alertname": "GuardianConsumerLagHigh", "severity": "warning"}, "guardian-oncall"),
    ],
)
def test_routes(labels: dict[str, str], receiver: str) -> None:
    assert route(labels) == receiver


def test_every_alert_guardian_raises_has_a_route_and_none_of_severity_warning_pages() -> None:
    sets = alert_label_sets()
    assert {s["alertname"] for s in sets} >= {"GuardianFairnessBreach", "GuardianDriftDetected"}
    for labels in sets:
        receiver = route(labels)
        assert receiver in {"guardian-oncall", "guardian-pager", "model-owners"}, labels
        assert (receiver == "guardian-pager") == (labels["severity"] == "critical"), labels


def _matches(matchers: list[str], labels: dict[str, str]) -> bool:
    for matcher in matchers:
        name, op, value = re.fullmatch(r'(\w+)(=~|!~|!=|=)"(.*)"', matcher).groups()  # type: ignore[union-attr]
        actual = labels.get(name, "")
        hit = re.fullmatch(value, actual) is not None if "~" in op else actual == value
        if hit != (op in ("=", "=~")):
            return False
    return True


def test_inhibition_rules_use_labels_both_sides_carry() -> None:
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    sets = alert_label_sets()
    assert config["inhibit_rules"]
    for rule in config["inhibit_rules"]:
        sources = [s for s in sets if _matches(rule["source_matchers"], s)]
        targets = [s for s in sets if _matches(rule["target_matchers"], s)]
        assert sources and targets, rule  # a rule that matches no alert Guardian raises
        for labels in sources + targets:
            missing = set(rule["equal"]) - labels.keys()
            assert not missing, (rule, labels["alertname"], missing)
        # a source never hides a target that is about something else (another feature,
        # model, attribute...): identifying labels both carry must be equal
        for source in sources:
            for target in targets:
                shared = IDENTITY & source.keys() & target.keys()
                assert shared <= set(rule["equal"]), (rule, shared)
