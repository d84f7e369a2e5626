"""Alerting: turn detector results and service health into alerts people act on.

The engine (:mod:`service.alerting.engine`) is a synchronous state machine;
sinks (:mod:`service.alerting.sinks`) deliver its state changes to the
``guardian.alerts`` topic, Alertmanager and webhooks. Rules are data in
``config/alerts.yaml`` (:mod:`service.alerting.rules`).
"""

from service.alerting.engine import (
    Alert,
    AlertChange,
    AlertEngine,
    AlertNotFound,
    Matcher,
    Silence,
)
from service.alerting.rules import AlertName, AlertRule, AlertRules, load_rules
from service.alerting.settings import AlertingSettings

__all__ = [
    "Alert",
    "AlertChange",
    "AlertEngine",
    "AlertName",
    "AlertNotFound",
    "AlertRule",
    "AlertRules",
    "AlertingSettings",
    "Matcher",
    "Silence",
    "load_rules",
]
