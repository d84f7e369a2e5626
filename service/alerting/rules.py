"""Alert rules: which alerts exist, how loud they are and how they settle.

Rules are data (``config/alerts.yaml``), validated once into frozen objects.
Durations are written as Prometheus writes them (``90s``, ``5m``, ``1h``) or
as plain seconds.

Examples
--------
>>> rules = AlertRules.model_validate({"version": "t1", "runbook_url_base": "https://rb"})
>>> rules.rule(AlertName.DRIFT).severity
'warning'
>>> rules.runbook_url(AlertName.DRIFT)
'https://rb/GuardianDriftDetected.md'
>>> AlertRules().runbook_url(AlertName.DRIFT, base="https://wiki.internal/guardian/")
'https://wiki.internal/guardian/GuardianDriftDetected.md'
>>> sorted(AlertRules().pushed_to_alertmanager())
['GuardianDriftDetected']
>>> parse_duration("1m30s")
90.0
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RULES_FILE = Path("config/alerts.yaml")

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``30``, ``"30s"``, ``"5m"``, ``"1h30m"`` (Prometheus style).

    Raises
    ------
    ValueError
        On negative numbers or text that is not a duration.
    """
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text such as '5m'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("empty duration")
        parts = _DURATION_PART.findall(text)
        if "".join(n + u for n, u in parts) != text:
            raise ValueError(f"not a duration: {text!r} (expected e.g. 30s, 5m, 1h30m)")
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    else:
        raise ValueError("a duration is a number of seconds or text such as '5m'")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class AlertName(StrEnum):
    """Alerts the engine raises; Prometheus rules use the same names."""

    DRIFT = "GuardianDriftDetected"
    FAIRNESS = "GuardianFairnessBreach"
    PERFORMANCE = "GuardianPerformanceEstimateLow"
    DLQ_RATE = "GuardianDLQRateHigh"
    REDACTION_FAILURES = "GuardianRedactionFailures"
    CONSUMER_LAG = "GuardianConsumerLagHigh"
    MODEL_SILENT = "GuardianModelSilent"
    POLICY_OVERRIDE = "GuardianPolicyOverride"
    UNDECODABLE = "GuardianUndecodableBatch"


Severity = Literal["info", "warning", "critical"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class AlertRule(_Frozen):
    """How one alert is raised, held and settled.

    ``for_`` (``for`` in YAML) is how long the condition must hold before a
    pending alert fires; ``resolve_after`` is the hysteresis: how long without
    a new detection (or with the level back under its clear mark) before a
    firing alert resolves; ``cooldown`` is how long after a resolution new
    detections of the same alert are counted but do not open a new one, so a
    flapping stream does not page every few minutes.
    """

    enabled: bool = True
    severity: Severity = "warning"
    #: Push to Alertmanager. Off where a Prometheus rule is the alert's Alertmanager form
    #: (GuardianFairnessBreach reads guardian_fairness_breached), so Alertmanager never
    #: holds one alert twice; the engine still lists it and writes it to the topic and webhook.
    alertmanager: bool = True
    for_: Duration = Field(default=0.0, alias="for")
    resolve_after: Duration = 600.0
    cooldown: Duration = 900.0
    summary: str = Field(default="", max_length=500)


class LevelThreshold(_Frozen):
    """Fire above ``fire_above``; count as clear only below ``clear_below``.

    Between the two marks an alert keeps its state: the gap stops a value that
    hovers at the threshold from flapping.
    """

    fire_above: float
    clear_below: float

    @model_validator(mode="after")
    def _ordered(self) -> LevelThreshold:
        if self.clear_below > self.fire_above:
            raise ValueError("clear_below must not exceed fire_above")
        return self


class HealthInputs(_Frozen):
    """Thresholds for the health inputs of :meth:`AlertEngine.observe_health`.

    ``dlq_rate`` is the fraction (0..1) of consumed messages that went to the
    DLQ over the caller's health window; ``redaction_failures`` the count of
    failed analyses in that window; ``consumer_lag`` the total lag over the
    assigned partitions; ``model_silence`` how long a model may send nothing.
    """

    dlq_rate: LevelThreshold = LevelThreshold(fire_above=0.05, clear_below=0.02)
    redaction_failures: LevelThreshold = LevelThreshold(fire_above=0.0, clear_below=0.0)
    consumer_lag: LevelThreshold = LevelThreshold(fire_above=10_000, clear_below=5_000)
    model_silence: Duration = 900.0


#: Engine alerts on detector results are on; its health alerts are off by default because
#: the Prometheus rules (config/prometheus/rules) raise them: one source per alert. Turn
#: them on only where no Prometheus evaluates Guardian's rules.
HEALTH_ALERTS: frozenset[AlertName] = frozenset(
    {
        AlertName.DLQ_RATE,
        AlertName.REDACTION_FAILURES,
        AlertName.CONSUMER_LAG,
        AlertName.MODEL_SILENT,
    }
)

_DEFAULT_RULES: dict[AlertName, AlertRule] = {
    AlertName.DRIFT: AlertRule.model_validate(
        {"severity": "warning", "for": 0, "resolve_after": "30m", "cooldown": "1h"}
    ),
    AlertName.FAIRNESS: AlertRule.model_validate(
        {
            "severity": "warning",
            "for": 0,
            "resolve_after": 0,
            "cooldown": "30m",
            "alertmanager": False,
        }
    ),
    # Held like fairness: the performance monitor's hysteresis decides; Alertmanager gets it
    # from the Prometheus rule on guardian_performance_breached.
    AlertName.PERFORMANCE: AlertRule.model_validate(
        {
            "severity": "warning",
            "for": 0,
            "resolve_after": 0,
            "cooldown": "30m",
            "alertmanager": False,
        }
    ),
    AlertName.DLQ_RATE: AlertRule.model_validate(
        {
            "enabled": False,
            "severity": "warning",
            "for": "2m",
            "resolve_after": "5m",
            "cooldown": "10m",
        }
    ),
    AlertName.REDACTION_FAILURES: AlertRule.model_validate(
        {
            "enabled": False,
            "severity": "warning",
            "for": 0,
            "resolve_after": "10m",
            "cooldown": "10m",
        }
    ),
    AlertName.CONSUMER_LAG: AlertRule.model_validate(
        {
            "enabled": False,
            "severity": "warning",
            "for": "5m",
            "resolve_after": "5m",
            "cooldown": "10m",
        }
    ),
    AlertName.MODEL_SILENT: AlertRule.model_validate(
        {
            "enabled": False,
            "severity": "warning",
            "for": 0,
            "resolve_after": "1m",
            "cooldown": "15m",
        }
    ),
    # Recorded by the engine (/v1/alerts, the alerts topic) on the replica that took the
    # override; Alertmanager gets it once, from the rule on guardian_policy_overrides_total.
    AlertName.POLICY_OVERRIDE: AlertRule.model_validate(
        {
            "severity": "warning",
            "for": 0,
            "resolve_after": "1h",
            "cooldown": 0,
            "alertmanager": False,
        }
    ),
    # Recorded with its offsets by the engine; Alertmanager gets it from the Prometheus rule.
    AlertName.UNDECODABLE: AlertRule.model_validate(
        {
            "severity": "critical",
            "for": 0,
            "resolve_after": "30m",
            "cooldown": 0,
            "alertmanager": False,
        }
    ),
}

#: Where runbooks are when neither the setting nor the rules file says: their path in
#: Guardian's repository (docs/runbooks/<alertname>.md).
DEFAULT_RUNBOOK_BASE = "docs/runbooks"


class AlertRules(_Frozen):
    """All alert rules, the thresholds of the health inputs and engine bounds.

    ``version`` is recorded on every alert as the policy version it was raised
    under. ``max_alerts`` bounds the alerts held at once (a publisher that
    invents model names cannot grow the engine without limit); ``max_resolved``
    bounds the history of resolved alerts kept for listing.
    """

    version: str = Field(default="1", min_length=1, max_length=64)
    #: Deprecated: set ``alerting.runbook_base_url`` (GUARDIAN_ALERTING__RUNBOOK_BASE_URL),
    #: which wins; kept so existing rules files still load.
    runbook_url_base: str | None = Field(default=None, min_length=1)
    rules: dict[AlertName, AlertRule] = Field(default_factory=dict)
    inputs: HealthInputs = HealthInputs()
    max_alerts: int = Field(default=10_000, ge=1, le=1_000_000)
    max_resolved: int = Field(default=1_000, ge=0, le=1_000_000)

    @model_validator(mode="before")
    @classmethod
    def _merge_defaults(cls, data: Any) -> Any:
        """A rule given in YAML overrides only the keys it names; the rest keep their defaults."""
        if not isinstance(data, dict) or not isinstance(data.get("rules"), dict):
            return data
        merged: dict[Any, Any] = {}
        for name, given in data["rules"].items():
            known = name in AlertName.__members__.values()
            default = _DEFAULT_RULES[AlertName(name)] if known else None
            if default is not None and isinstance(given, dict):
                merged[name] = {**default.model_dump(by_alias=True), **given}
            else:
                merged[name] = given
        return {**data, "rules": merged}

    @model_validator(mode="after")
    def _fill_defaults(self) -> AlertRules:
        object.__setattr__(self, "rules", {**_DEFAULT_RULES, **self.rules})
        return self

    def rule(self, name: AlertName) -> AlertRule:
        """The rule of one alert name (every name has one, defaults fill gaps)."""
        return self.rules[name]

    def runbook_url(self, name: AlertName, base: str | None = None) -> str:
        """Where on-call reads what to do: ``<base>/<alertname>.md``.

        ``base`` (the ``alerting.runbook_base_url`` setting) wins over the rules
        file's deprecated ``runbook_url_base``; without either, the page's path
        in Guardian's repository.
        """
        chosen = base or self.runbook_url_base or DEFAULT_RUNBOOK_BASE
        return f"{chosen.rstrip('/')}/{name.value}.md"

    def pushed_to_alertmanager(self) -> frozenset[str]:
        """Names of the enabled alerts the engine pushes to Alertmanager."""
        return frozenset(n.value for n, r in self.rules.items() if r.enabled and r.alertmanager)


def load_rules(path: Path | str | None = None) -> AlertRules:
    """Read and validate ``config/alerts.yaml`` (or ``path``).

    A relative path is looked up in the working directory first, then in the
    project root, so ``guardian run`` works from anywhere in a checkout.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    pydantic.ValidationError
        When the content does not validate; the error names the key.
    """
    candidate = Path(path) if path is not None else DEFAULT_RULES_FILE
    if not candidate.is_absolute() and not candidate.exists():
        candidate = PROJECT_ROOT / candidate
    with candidate.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    return AlertRules.model_validate(data)
