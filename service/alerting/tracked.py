"""The mutable state of one active alert, and the ``guardian_alerts_firing`` gauge over them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from service.alerting.model import SOURCE, Alert, AlertState
from service.alerting.rules import AlertName, AlertRule

if TYPE_CHECKING:
    from service.metrics import GuardianMetrics


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


@dataclass(slots=True)
class Tracked:
    """Mutable state of one active (pending or firing) alert."""

    id: str
    fingerprint: str
    name: AlertName
    labels: dict[str, str]
    annotations: dict[str, str]
    summary: str
    config_version: str
    policy_version: str
    active_at: float
    last_active: float
    state: AlertState = AlertState.PENDING
    starts_at: float | None = None
    ends_at: float | None = None
    #: True while a level or latched condition holds; such alerts never resolve on quiet alone.
    holding: bool = False
    #: Level and latched alerts (held by a condition) as opposed to event alerts (drift).
    held: bool = False
    detections: int = 1
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        name: AlertName,
        rule: AlertRule,
        labels: dict[str, str],
        fp: str,
        at: float,
        *,
        holding: bool,
        extra: dict[str, str],
        runbook_url: str,
        config_version: str,
        policy_version: str,
    ) -> Tracked:
        """A new pending alert; ``labels`` identify it, the rule adds severity and summary."""
        summary = (rule.summary or name.value).format_map(_Blank(labels))
        return cls(
            id=f"{fp}-{int(at * 1000):x}",
            fingerprint=fp,
            name=name,
            labels={**labels, "severity": rule.severity, "source": SOURCE},
            annotations={"runbook_url": runbook_url},
            summary=summary,
            config_version=config_version,
            policy_version=policy_version,
            active_at=at,
            last_active=at,
            holding=holding,
            held=holding,
            extra=extra,
        )

    def to_state(self) -> dict[str, Any]:
        """JSON-ready form, checkpointed with its model so the next holder carries it on."""
        return {**asdict(self), "name": self.name.value, "state": self.state.value}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Tracked:
        """The inverse of :meth:`to_state`; ValueError, KeyError or TypeError if malformed."""
        known = {f.name for f in fields(cls)}
        return cls(
            **{k: v for k, v in state.items() if k in known and k not in ("name", "state")},
            name=AlertName(state["name"]),
            state=AlertState(state["state"]),
        )

    def snapshot(self, silenced_by: tuple[str, ...]) -> Alert:
        """The alert as the API and the sinks see it."""
        annotations = {
            **self.annotations,
            **self.extra,
            "summary": self.summary,
            "alert_id": self.id,
            "config_version": self.config_version,
            "policy_version": self.policy_version,
        }
        return Alert(
            id=self.id,
            fingerprint=self.fingerprint,
            alertname=self.name.value,
            state=self.state,
            severity=self.labels["severity"],
            labels=dict(self.labels),
            annotations=annotations,
            summary=self.summary,
            runbook_url=self.annotations["runbook_url"],
            config_version=self.config_version,
            policy_version=self.policy_version,
            active_at=self.active_at,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            updated_at=self.last_active,
            detections=self.detections,
            acknowledged_by=self.acknowledged_by,
            acknowledged_at=self.acknowledged_at,
            silenced_by=silenced_by,
        )


class FiringGauge:
    """``guardian_alerts_firing{alertname,model,severity}``; series that stop firing go to 0."""

    def __init__(self, metrics: GuardianMetrics) -> None:
        self._metrics = metrics
        self._series: set[tuple[str, str, str]] = set()

    def export(self, active: Iterable[Tracked]) -> None:
        counts: dict[tuple[str, str, str], int] = {}
        bound = self._metrics.model_label
        for tracked in active:
            if tracked.state is not AlertState.FIRING:
                continue
            model = tracked.labels.get("model")
            key = (
                tracked.name.value,
                bound(model) if model is not None else "",
                tracked.labels["severity"],
            )
            counts[key] = counts.get(key, 0) + 1
        gauge = self._metrics.alerts_firing
        for key in self._series - counts.keys():
            gauge.labels(*key).set(0)
        for key, count in counts.items():
            gauge.labels(*key).set(count)
        self._series |= counts.keys()
