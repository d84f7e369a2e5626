"""One source per alert: no alert reaches Alertmanager from both the engine and Prometheus.

The engine alerts on detector results, the Prometheus rules on the service's
health (and on the fairness monitor's exported decision). An alert raised by
both would be two notifications for one incident, and a silence or an ack on
one would leave the other notifying.
"""

from __future__ import annotations

import yaml

from service.alerting.rules import HEALTH_ALERTS, AlertName, AlertRules, load_rules
from tests.promql import RULES_DIR


def prometheus_alerts() -> set[str]:
    names: set[str] = set()
    for path in RULES_DIR.glob("*.yml"):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            names |= {rule["alert"] for rule in group["rules"] if "alert" in rule}
    return names


def test_shipped_rules_raise_each_alert_in_one_place() -> None:
    engine = load_rules()
    pushed = engine.pushed_to_alertmanager()
    assert pushed == {AlertName.DRIFT.value}
    assert pushed.isdisjoint(prometheus_alerts())
    # everything the engine does not push still reaches Alertmanager through a rule
    assert {n.value for n in AlertName} - pushed <= prometheus_alerts()
    assert all(not engine.rule(n).enabled for n in HEALTH_ALERTS)


def test_the_defaults_agree_with_the_shipped_file() -> None:
    """A rules file that names no rule gets the same split (defaults fill gaps)."""
    assert AlertRules().pushed_to_alertmanager() == load_rules().pushed_to_alertmanager()
