"""Alerting: turn detector results and service health into alerts people act on.

The engine (:mod:`service.alerting.engine`) is a synchronous state machine over
the types of :mod:`service.alerting.model`, fed by :mod:`service.alerting.inputs`;
sinks (:mod:`service.alerting.sinks`) deliver its state changes to the
``guardian.alerts`` topic, Alertmanager and webhooks. Rules are data in
``config/alerts.yaml`` (:mod:`service.alerting.rules`).
"""

from service.alerting.engine import AlertEngine
from service.alerting.model import (
    Alert,
    AlertChange,
    AlertFilter,
    AlertNotFound,
    AlertSink,
    AlertState,
    Matcher,
    Silence,
    SilenceNotFound,
)
from service.alerting.rules import AlertName, AlertRule, AlertRules, load_rules
from service.alerting.settings import AlertingSettings
from service.alerting.sinks import AlertmanagerSink, KafkaAlertSink, WebhookSink, build_sinks

__all__ = [
    "Alert",
    "AlertChange",
    "AlertEngine",
    "AlertFilter",
    "AlertName",
    "AlertNotFound",
    "AlertRule",
    "AlertRules",
    "AlertSink",
    "AlertState",
    "AlertingSettings",
    "AlertmanagerSink",
    "KafkaAlertSink",
    "Matcher",
    "Silence",
    "SilenceNotFound",
    "WebhookSink",
    "build_sinks",
    "load_rules",
]
