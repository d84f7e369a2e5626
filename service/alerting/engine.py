"""The alert engine: detector results and health readings in, alert state changes out.

One alert exists per fingerprint (alert name + model + version +
feature/attribute + detector/metric): a detector that keeps firing updates its
alert, it does not open a new one per detection. Each alert goes

``pending`` --(condition held for ``for``)--> ``firing`` --(quiet for
``resolve_after``)--> ``resolved``

and, once resolved, stays closed for ``cooldown`` (detections in that time are
counted, not alerted). A pending alert whose condition goes away before
``for`` is dropped without any notification, as Prometheus does.

The engine is a synchronous state machine (easy to test with explicit times);
:meth:`AlertEngine.flush` hands the queued changes to the asynchronous sinks.
Alerts carry identifiers, severities and aggregate figures only, never event
values: their inputs (:mod:`detectors.results`) hold none.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from detectors.results import DriftResult, FairnessResult, PerformanceResult
from service.alerting.rules import AlertName, AlertRule, AlertRules, LevelThreshold

if TYPE_CHECKING:
    from service.metrics import GuardianMetrics

logger = logging.getLogger(__name__)

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


@dataclass(slots=True)
class _Tracked:
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


def fingerprint(labels: Mapping[str, str]) -> str:
    """Stable identity of an alert: a hash of its identifying labels (severity excluded)."""
    items = sorted((k, v) for k, v in labels.items() if k not in ("severity", "source"))
    raw = "\x1f".join(f"{k}\x1e{v}" for k, v in items)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


class AlertEngine:
    """State machine from detector results and health readings to alerts.

    Parameters
    ----------
    rules
        Validated alert rules (:func:`service.alerting.rules.load_rules`).
    runbook_base_url
        ``alerting.runbook_base_url``: alerts link ``<it>/<alertname>.md``.
    metrics
        Where ``guardian_alerts_firing`` and transition counters go; ``None`` in
        tests that do not look at metrics.
    sinks
        Receivers of state changes (:mod:`service.alerting.sinks`).
    config_version_provider
        Returns the version of the live Guardian config; recorded on each alert.
    clock
        Unix seconds; used when a method is called without ``now``.

    Examples
    --------
    >>> from detectors.results import DriftResult
    >>> engine = AlertEngine(AlertRules())
    >>> r = DriftResult("m", "1", "age", "adwin", "m/1/age/adwin", 0.3, at=100.0, n_seen=500)
    >>> engine.ingest(r, now=100.0)
    >>> [c.event for c in engine.tick(now=100.0)]
    ['firing']
    >>> engine.ingest(r, now=160.0)  # same fingerprint: updated, not duplicated
    >>> len(engine.list_alerts()), engine.list_alerts()[0].detections
    (1, 2)
    >>> [c.event for c in engine.tick(now=160.0 + 1800)]
    ['resolved']
    """

    def __init__(
        self,
        rules: AlertRules,
        metrics: GuardianMetrics | None = None,
        sinks: Iterable[AlertSink] = (),
        config_version_provider: Callable[[], str] | None = None,
        clock: Callable[[], float] = time.time,
        runbook_base_url: str | None = None,
    ) -> None:
        self.rules = rules
        self._runbook_base = runbook_base_url
        self._metrics = metrics
        self.sinks: list[AlertSink] = list(sinks)
        self._config_version = config_version_provider or (lambda: "static")
        self._clock = clock
        self._active: dict[str, _Tracked] = {}
        self._resolved: deque[Alert] = deque(maxlen=rules.max_resolved)
        self._cooldown_until: OrderedDict[str, float] = OrderedDict()
        self._silences: dict[str, Silence] = {}
        self._queue: list[AlertChange] = []
        self._silence_queue: list[SilenceChange] = []
        self._gauge_series: set[tuple[str, str, str]] = set()
        #: Alerts not opened because ``max_alerts`` were already held.
        self.refused = 0
        #: Detections inside a cooldown (counted, no alert).
        self.suppressed = 0

    # ------------------------------------------------------------------ inputs

    def ingest(
        self, result: DriftResult | FairnessResult | PerformanceResult, now: float | None = None
    ) -> None:
        """Take one detector result.

        A drift result opens or refreshes the drift alert of its (model,
        version, feature, detector). A fairness ``breach`` opens or refreshes
        the fairness alert of its (model, version, attribute, metric) and holds
        it until a ``clear`` result of the same key arrives.
        """
        at = self._clock() if now is None else now
        if isinstance(result, DriftResult):
            labels = {
                "model": result.model,
                "version": result.version,
                "feature": result.feature,
                "detector": result.detector,
            }
            extra = {"description": f"{result.detector} saw a change after {result.n_seen} values"}
            self._detect(AlertName.DRIFT, labels, at, extra=extra)
            return
        if isinstance(result, PerformanceResult):
            self._ingest_performance(result, at)
            return
        labels = {
            "model": result.model,
            "version": result.version,
            "attribute": result.attribute,
            "metric": result.metric,
        }
        if result.state == "breach":
            extra = {
                "description": (
                    f"{result.metric} = {result.value:.4g} against threshold {result.threshold:.4g}"
                )
            }
            self._detect(AlertName.FAIRNESS, labels, at, holding=True, extra=extra)
        else:
            self._release(AlertName.FAIRNESS, labels, at)

    def _ingest_performance(self, result: PerformanceResult, at: float) -> None:
        """A ``breach`` holds the alert of its (model, version, metric) until its ``clear``."""
        labels = {"model": result.model, "version": result.version, "metric": result.metric}
        if result.state == "breach":
            extra = {
                "description": (
                    f"estimated {result.metric} = {result.value:.4g} below threshold "
                    f"{result.threshold:.4g} over {result.n} events"
                )
            }
            self._detect(AlertName.PERFORMANCE, labels, at, holding=True, extra=extra)
        else:
            self._release(AlertName.PERFORMANCE, labels, at)

    def observe_health(
        self,
        *,
        dlq_rate: float | None = None,
        lag: float | None = None,
        redaction_failures: float | None = None,
        model_last_seen: Mapping[str, float] | None = None,
        now: float | None = None,
    ) -> None:
        """Take the service's health readings; ``None`` means "not measured this time".

        Parameters
        ----------
        dlq_rate
            Fraction (0..1) of consumed messages sent to the DLQ over the
            caller's health window.
        lag
            Consumer lag summed over the assigned partitions.
        redaction_failures
            Failed analyses in the health window.
        model_last_seen
            Model name -> unix seconds of its last event, for every model this
            replica owns. A model silent for longer than ``model_silence``
            alerts; a model missing from the mapping clears its alert.
        """
        at = self._clock() if now is None else now
        inputs = self.rules.inputs
        if dlq_rate is not None:
            self._level(AlertName.DLQ_RATE, {}, dlq_rate, inputs.dlq_rate, at)
        if lag is not None:
            self._level(AlertName.CONSUMER_LAG, {}, lag, inputs.consumer_lag, at)
        if redaction_failures is not None:
            self._level(
                AlertName.REDACTION_FAILURES, {}, redaction_failures, inputs.redaction_failures, at
            )
        if model_last_seen is not None:
            limit = inputs.model_silence
            seen_models: set[str] = set()
            for model, last_seen in model_last_seen.items():
                seen_models.add(model)
                labels = {"model": model}
                if at - last_seen > limit:
                    extra = {"description": f"last event {at - last_seen:.0f}s ago"}
                    self._detect(AlertName.MODEL_SILENT, labels, at, holding=True, extra=extra)
                else:
                    self._release(AlertName.MODEL_SILENT, labels, at)
            for tracked in list(self._active.values()):
                if (
                    tracked.name is AlertName.MODEL_SILENT
                    and tracked.labels["model"] not in seen_models
                ):
                    self._release(AlertName.MODEL_SILENT, {"model": tracked.labels["model"]}, at)

    def policy_override(
        self, policy: str, fields: Sequence[str], actor: str, now: float | None = None
    ) -> None:
        """An unsafe policy was accepted with an override: raise the warning alert.

        One alert per policy (``redaction``, ``retention``); a new override
        refreshes it. It carries the overridden field names and who made the
        change, never the policy's values or the override's reason (that is in
        the audit log).
        """
        at = self._clock() if now is None else now
        extra = {
            "description": (
                f"{policy} policy accepted with an override of {', '.join(fields)} by {actor}"
            )
        }
        self._detect(AlertName.POLICY_OVERRIDE, {"policy": policy}, at, extra=extra)

    def input_undecodable(
        self,
        *,
        topic: str,
        partition: int,
        first_offset: int,
        last_offset: int,
        action: str,
        error: str,
        now: float | None = None,
    ) -> None:
        """An input record batch could not be decoded: ``skipped`` or ``stopped``.

        One alert per input partition; it names the offsets and what was done.
        A stopped partition holds its alert (the partition stays paused).
        """
        at = self._clock() if now is None else now
        labels = {"topic": topic, "partition": str(partition)}
        what = (
            "skipped: the range went to the DLQ unprocessed (reason undecodable_batch)"
            if action == "skipped"
            else "partition stopped (kafka.on_undecodable=stop); readiness fails"
        )
        extra = {
            "description": (
                f"offsets {first_offset}..{last_offset} of {topic}[{partition}] "
                f"cannot be decoded ({error}); {what}"
            ),
            "first_offset": str(first_offset),
            "last_offset": str(last_offset),
            "action": action,
        }
        self._detect(AlertName.UNDECODABLE, labels, at, holding=action == "stopped", extra=extra)

    # ------------------------------------------------------------ state machine

    def tick(self, now: float | None = None) -> list[AlertChange]:
        """Advance every alert to ``now``; return (and queue for the sinks) what changed."""
        at = self._clock() if now is None else now
        changes: list[AlertChange] = []
        for fp, tracked in list(self._active.items()):
            rule = self.rules.rule(tracked.name)
            quiet = not tracked.holding and at - tracked.last_active >= rule.resolve_after
            # A pending held alert whose condition went away never fired: drop it (as Prometheus).
            vanished = tracked.state is AlertState.PENDING and tracked.held and not tracked.holding
            if quiet or vanished or not rule.enabled:
                del self._active[fp]
                if tracked.state is AlertState.FIRING:
                    tracked.state = AlertState.RESOLVED
                    tracked.ends_at = at
                    self._remember_cooldown(fp, at + rule.cooldown)
                    snapshot = self._snapshot(tracked, at)
                    self._resolved.append(snapshot)
                    changes.append(AlertChange(event="resolved", at=at, alert=snapshot))
                    self._count_transition(tracked.name, "resolved")
                continue
            if tracked.state is AlertState.PENDING and at - tracked.active_at >= rule.for_:
                tracked.state = AlertState.FIRING
                tracked.starts_at = at
                changes.append(
                    AlertChange(event="firing", at=at, alert=self._snapshot(tracked, at))
                )
                self._count_transition(tracked.name, "firing")
        self._forget_expired(at)
        self._export_gauge()
        self._queue.extend(changes)
        return changes

    def ack(self, alert_id: str, who: str, now: float | None = None) -> Alert:
        """Record that ``who`` is on it. The change goes to the sinks on the next flush.

        Raises
        ------
        AlertNotFound
            When no active or recently resolved alert has that id.
        """
        at = self._clock() if now is None else now
        for tracked in self._active.values():
            if tracked.id == alert_id:
                tracked.acknowledged_by = who
                tracked.acknowledged_at = at
                snapshot = self._snapshot(tracked, at)
                break
        else:
            for index, resolved in enumerate(self._resolved):
                if resolved.id == alert_id:
                    snapshot = resolved.model_copy(
                        update={"acknowledged_by": who, "acknowledged_at": at}
                    )
                    self._resolved[index] = snapshot
                    break
            else:
                raise AlertNotFound(alert_id)
        self._queue.append(AlertChange(event="acknowledged", at=at, alert=snapshot))
        return snapshot

    # ---------------------------------------------------------------- silences

    def add_silence(
        self,
        matchers: Sequence[Matcher | Mapping[str, Any]],
        ends_at: float,
        created_by: str,
        comment: str = "",
        starts_at: float | None = None,
        now: float | None = None,
    ) -> Silence:
        """Silence notifications of alerts matching every matcher until ``ends_at``.

        Raises
        ------
        pydantic.ValidationError
            On no matchers, a bad regex or ``ends_at`` not after ``starts_at``.
        ValueError
            When :data:`MAX_SILENCES` silences are already held.
        """
        at = self._clock() if now is None else now
        self._forget_expired(at)
        if len(self._silences) >= MAX_SILENCES:
            raise ValueError(f"at most {MAX_SILENCES} silences may exist at once")
        silence = Silence.model_validate(
            {
                "id": uuid.uuid4().hex,
                "matchers": tuple(
                    m if isinstance(m, Matcher) else Matcher.model_validate(m) for m in matchers
                ),
                "starts_at": at if starts_at is None else starts_at,
                "ends_at": ends_at,
                "created_by": created_by,
                "comment": comment,
            }
        )
        self._silences[silence.id] = silence
        self._silence_queue.append(SilenceChange(event="created", silence=silence))
        return silence

    def delete_silence(self, silence_id: str) -> Silence:
        """Remove a silence at once; its Alertmanager copy goes on the next flush.

        Raises :class:`SilenceNotFound`.
        """
        try:
            silence = self._silences.pop(silence_id)
        except KeyError:
            raise SilenceNotFound(silence_id) from None
        self._silence_queue.append(SilenceChange(event="deleted", silence=silence))
        return silence

    def list_silences(
        self, include_expired: bool = False, now: float | None = None
    ) -> list[Silence]:
        at = self._clock() if now is None else now
        silences = sorted(self._silences.values(), key=lambda s: s.starts_at)
        return [s for s in silences if include_expired or at < s.ends_at]

    # ------------------------------------------------------------------ reading

    def list_alerts(
        self, filters: AlertFilter | None = None, now: float | None = None
    ) -> list[Alert]:
        """Active alerts (newest first), then resolved ones if the filter includes them."""
        at = self._clock() if now is None else now
        f = filters or AlertFilter()
        alerts = [self._snapshot(t, at) for t in self._active.values()]
        alerts.sort(key=lambda a: a.active_at, reverse=True)
        if f.include_resolved:
            alerts.extend(self._with_silences(a, at) for a in reversed(self._resolved))
        return [a for a in alerts if _passes(a, f)]

    def get_alert(self, alert_id: str, now: float | None = None) -> Alert:
        """One alert by id. Raises :class:`AlertNotFound`."""
        for alert in self.list_alerts(now=now):
            if alert.id == alert_id:
                return alert
        raise AlertNotFound(alert_id)

    def firing(self, now: float | None = None, include_silenced: bool = False) -> list[Alert]:
        """Alerts firing now (what Alertmanager must keep hearing about)."""
        at = self._clock() if now is None else now
        alerts = [
            self._snapshot(t, at) for t in self._active.values() if t.state is AlertState.FIRING
        ]
        return [a for a in alerts if include_silenced or not a.silenced]

    # ------------------------------------------------------------------- output

    async def start(self) -> None:
        """Start every sink (HTTP clients and the like)."""
        for sink in self.sinks:
            await sink.start()

    async def flush(self, now: float | None = None) -> None:
        """Deliver queued changes to every sink, then let sinks resend firing alerts.

        Sinks never raise; each gets the same changes concurrently.
        """
        at = self._clock() if now is None else now
        changes, self._queue = self._queue, []
        silences, self._silence_queue = self._silence_queue, []
        firing = self.firing(now=at)
        if not self.sinks:
            return
        mirrors = [s for s in self.sinks if isinstance(s, SilenceMirror)]
        if mirrors:
            # Before the alerts: a silence must be in Alertmanager before what it mutes.
            await asyncio.gather(*(m.mirror(silences, at) for m in mirrors))
        if changes:
            await asyncio.gather(*(sink.deliver(changes) for sink in self.sinks))
        await asyncio.gather(*(sink.refresh(firing, at) for sink in self.sinks))

    async def step(self, now: float | None = None) -> list[AlertChange]:
        """:meth:`tick` then :meth:`flush`: what the periodic loop calls."""
        at = self._clock() if now is None else now
        changes = self.tick(at)
        await self.flush(at)
        return changes

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Tick and flush every ``interval`` seconds until ``stop`` is set, then flush once more."""
        while not stop.is_set():
            await self.step()
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                continue
        await self.step()

    async def close(self) -> None:
        for sink in self.sinks:
            await sink.close()

    # ----------------------------------------------------------------- internal

    def _detect(
        self,
        name: AlertName,
        identity: dict[str, str],
        at: float,
        *,
        holding: bool = False,
        extra: dict[str, str] | None = None,
    ) -> None:
        rule = self.rules.rule(name)
        if not rule.enabled:
            return
        labels = {"alertname": name.value, **{k: v for k, v in identity.items() if v != ""}}
        fp = fingerprint(labels)
        tracked = self._active.get(fp)
        if tracked is not None:
            tracked.last_active = max(tracked.last_active, at)
            tracked.detections += 1
            tracked.holding = holding
            if extra:
                tracked.extra = extra
            return
        if self._cooldown_until.get(fp, float("-inf")) > at:
            self.suppressed += 1
            self._count_transition(name, "suppressed")
            return
        if len(self._active) >= self.rules.max_alerts:
            self.refused += 1
            self._count_transition(name, "refused")
            return
        self._active[fp] = self._open(name, rule, labels, fp, at, holding, extra or {})
        self._count_transition(name, "pending")

    def _release(self, name: AlertName, identity: dict[str, str], at: float) -> None:
        labels = {"alertname": name.value, **{k: v for k, v in identity.items() if v != ""}}
        tracked = self._active.get(fingerprint(labels))
        if tracked is not None and tracked.holding:
            tracked.holding = False
            tracked.last_active = at  # the resolve_after clock starts when the condition clears

    def _level(
        self,
        name: AlertName,
        identity: dict[str, str],
        value: float,
        threshold: LevelThreshold,
        at: float,
    ) -> None:
        if value > threshold.fire_above:
            self._detect(name, identity, at, holding=True)
        elif value <= threshold.clear_below:
            self._release(name, identity, at)
        else:
            labels = {"alertname": name.value, **identity}
            tracked = self._active.get(fingerprint(labels))
            if tracked is not None and tracked.holding:
                tracked.last_active = at  # between the marks: keep the state it has

    def _open(
        self,
        name: AlertName,
        rule: AlertRule,
        labels: dict[str, str],
        fp: str,
        at: float,
        holding: bool,
        extra: dict[str, str],
    ) -> _Tracked:
        full_labels = {**labels, "severity": rule.severity, "source": SOURCE}
        summary = (rule.summary or name.value).format_map(_Blank(labels))
        return _Tracked(
            id=f"{fp}-{int(at * 1000):x}",
            fingerprint=fp,
            name=name,
            labels=full_labels,
            annotations={"runbook_url": self.rules.runbook_url(name, self._runbook_base)},
            summary=summary,
            config_version=str(self._config_version()),
            policy_version=self.rules.version,
            active_at=at,
            last_active=at,
            holding=holding,
            held=holding,
            extra=extra,
        )

    def _snapshot(self, tracked: _Tracked, at: float) -> Alert:
        labels = tracked.labels
        annotations = {
            **tracked.annotations,
            **tracked.extra,
            "summary": tracked.summary,
            "alert_id": tracked.id,
            "config_version": tracked.config_version,
            "policy_version": tracked.policy_version,
        }
        return Alert(
            id=tracked.id,
            fingerprint=tracked.fingerprint,
            alertname=tracked.name.value,
            state=tracked.state,
            severity=labels["severity"],
            labels=dict(labels),
            annotations=annotations,
            summary=tracked.summary,
            runbook_url=tracked.annotations["runbook_url"],
            config_version=tracked.config_version,
            policy_version=tracked.policy_version,
            active_at=tracked.active_at,
            starts_at=tracked.starts_at,
            ends_at=tracked.ends_at,
            updated_at=tracked.last_active,
            detections=tracked.detections,
            acknowledged_by=tracked.acknowledged_by,
            acknowledged_at=tracked.acknowledged_at,
            silenced_by=self._silenced_by(labels, at),
        )

    def _with_silences(self, alert: Alert, at: float) -> Alert:
        silenced_by = self._silenced_by(alert.labels, at)
        if silenced_by == alert.silenced_by:
            return alert
        return alert.model_copy(update={"silenced_by": silenced_by})

    def _silenced_by(self, labels: Mapping[str, str], at: float) -> tuple[str, ...]:
        if not self._silences:
            return ()
        return tuple(s.id for s in self._silences.values() if s.active(at) and s.matches(labels))

    def _remember_cooldown(self, fp: str, until: float) -> None:
        self._cooldown_until[fp] = until
        self._cooldown_until.move_to_end(fp)
        while len(self._cooldown_until) > self.rules.max_alerts:
            self._cooldown_until.popitem(last=False)

    def _forget_expired(self, at: float) -> None:
        expired = [fp for fp, until in self._cooldown_until.items() if until <= at]
        for fp in expired:
            del self._cooldown_until[fp]
        stale = [
            sid for sid, s in self._silences.items() if s.ends_at + SILENCE_RETENTION_SECONDS <= at
        ]
        for sid in stale:
            del self._silences[sid]

    def _count_transition(self, name: AlertName, state: str) -> None:
        if self._metrics is not None:
            self._metrics.alert_transitions.labels(name.value, state).inc()

    def _export_gauge(self) -> None:
        if self._metrics is None:
            return
        counts: dict[tuple[str, str, str], int] = {}
        bound = self._metrics.model_label
        for tracked in self._active.values():
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
        for key in self._gauge_series - counts.keys():
            gauge.labels(*key).set(0)
        for key, count in counts.items():
            gauge.labels(*key).set(count)
        self._gauge_series |= counts.keys()


def _passes(alert: Alert, f: AlertFilter) -> bool:
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
