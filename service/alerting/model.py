"""What the alert engine speaks: alerts, silences, filters, changes, and the sink contract.

Alerts carry identifiers, severities and aggregate figures only, never event
values. Times are Unix seconds; :func:`rfc3339` renders them for APIs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

SOURCE = "guardian"
MAX_SILENCES = 1_000
#: Expired silences stay listed this long, then are forgotten.
SILENCE_RETENTION_SECONDS = 3_600.0


class AlertState(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class AlertNotFound(KeyError):
    """No alert with that id is held (active or in the resolved history)."""


class SilenceNotFound(KeyError):
    """No silence with that id."""


def rfc3339(ts: float) -> str:
    """Unix seconds as RFC 3339 UTC with milliseconds, the form Alertmanager expects."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Matcher(_Frozen):
    """One label matcher of a silence, with Alertmanager's semantics.

    Examples
    --------
    >>> Matcher(name="model", value="credit-.*", is_regex=True).matches({"model": "credit-risk"})
    True
    >>> Matcher(name="model", value="a", is_equal=False).matches({"model": "a"})
    False
    """

    name: str = Field(min_length=1, max_length=128)
    value: str = Field(max_length=1024)
    is_regex: bool = False
    is_equal: bool = True
    _pattern: re.Pattern[str] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _compile(self) -> Matcher:
        if self.is_regex:
            try:
                self._pattern = re.compile(self.value)
            except re.error as exc:
                raise ValueError(f"invalid regex for matcher {self.name!r}: {exc}") from exc
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self._pattern is not None:
            hit = self._pattern.fullmatch(actual) is not None
        else:
            hit = actual == self.value
        return hit if self.is_equal else not hit


class Silence(_Frozen):
    """Mutes notifications of matching alerts between ``starts_at`` and ``ends_at``.

    A silenced alert still changes state and is listed (with ``silenced_by``);
    only notifications (Alertmanager, webhook) are held back.
    """

    id: str
    matchers: tuple[Matcher, ...] = Field(min_length=1, max_length=32)
    starts_at: float
    ends_at: float
    created_by: str = Field(min_length=1, max_length=128)
    comment: str = Field(default="", max_length=1024)

    @model_validator(mode="after")
    def _ordered(self) -> Silence:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


class Alert(_Frozen):
    """A snapshot of one alert, safe to serialise anywhere (no event values).

    ``active_at`` is the first detection of this incident, ``starts_at`` when it
    began firing, ``ends_at`` when it resolved. ``config_version`` and
    ``policy_version`` are those in force when it was raised.
    """

    id: str
    fingerprint: str
    alertname: str
    state: AlertState
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    summary: str
    runbook_url: str
    config_version: str
    policy_version: str
    active_at: float
    starts_at: float | None = None
    ends_at: float | None = None
    updated_at: float
    detections: int
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    silenced_by: tuple[str, ...] = ()

    @property
    def silenced(self) -> bool:
        return bool(self.silenced_by)

    def as_json(self) -> dict[str, Any]:
        """JSON-ready dict with RFC 3339 times, as written to ``guardian.alerts``."""
        data = self.model_dump(mode="json")
        for key in ("active_at", "starts_at", "ends_at", "updated_at", "acknowledged_at"):
            value = getattr(self, key)
            data[key] = rfc3339(value) if value is not None else None
        return data


class AlertChange(_Frozen):
    """One state change, handed to every sink."""

    event: Literal["firing", "resolved", "acknowledged"]
    at: float
    alert: Alert

    def as_json(self) -> dict[str, Any]:
        return {"event": self.event, "at": rfc3339(self.at), "alert": self.alert.as_json()}


class AlertFilter(_Frozen):
    """Filters of :meth:`AlertEngine.list_alerts` (all optional, combined with AND)."""

    state: AlertState | None = None
    alertname: str | None = None
    model: str | None = None
    severity: str | None = None
    acknowledged: bool | None = None
    silenced: bool | None = None
    include_resolved: bool = True

    @field_validator("alertname", "model", "severity")
    @classmethod
    def _bounded(cls, value: str | None) -> str | None:
        if value is not None and len(value) > 256:
            raise ValueError("filter value too long")
        return value


class SilenceChange(_Frozen):
    """A silence created or deleted through Guardian, for sinks that mirror silences."""

    event: Literal["created", "deleted"]
    silence: Silence


@runtime_checkable
class SilenceMirror(Protocol):
    """A sink that keeps a copy of Guardian's silences (Alertmanager). Never raises."""

    async def mirror(self, changes: Sequence[SilenceChange], now: float) -> None: ...


class AlertSink(Protocol):
    """Where alert changes go. Implementations never raise into the engine."""

    name: str

    async def start(self) -> None: ...

    async def deliver(self, changes: Sequence[AlertChange]) -> None: ...

    async def refresh(self, firing: Sequence[Alert], now: float) -> None: ...

    async def close(self) -> None: ...


def fingerprint(labels: Mapping[str, str]) -> str:
    """Stable identity of an alert: a hash of its identifying labels (severity excluded)."""
    items = sorted((k, v) for k, v in labels.items() if k not in ("severity", "source"))
    raw = "\x1f".join(f"{k}\x1e{v}" for k, v in items)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


def passes(alert: Alert, f: AlertFilter) -> bool:
    if f.state is not None and alert.state is not f.state:
        return False
    if f.alertname is not None and alert.alertname != f.alertname:
        return False
    if f.model is not None and alert.labels.get("model") != f.model:
        return False
    if f.severity is not None and alert.severity != f.severity:
        return False
    if f.acknowledged is not None and (alert.acknowledged_by is not None) != f.acknowledged:
        return False
    return f.silenced is None or alert.silenced == f.silenced
