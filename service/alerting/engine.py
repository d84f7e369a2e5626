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
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from service.alerting.inputs import AlertInputs
from service.alerting.model import (
    Alert,
    AlertChange,
    AlertFilter,
    AlertNotFound,
    AlertSink,
    AlertState,
    Matcher,
    Silence,
    SilenceMirror,
    fingerprint,
    passes,
)
from service.alerting.rules import AlertName, AlertRules, LevelThreshold
from service.alerting.silences import SilenceBook
from service.alerting.tracked import FiringGauge, Tracked

if TYPE_CHECKING:
    from service.metrics import GuardianMetrics

# Re-exported: the engine's types are imported from here too.
__all__ = ["Alert", "AlertEngine", "AlertFilter", "AlertNotFound", "AlertState", "Matcher"]


class AlertEngine(AlertInputs):
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
        self._active: dict[str, Tracked] = {}
        self._resolved: deque[Alert] = deque(maxlen=rules.max_resolved)
        self._cooldown_until: OrderedDict[str, float] = OrderedDict()
        self._silences = SilenceBook()
        self._queue: list[AlertChange] = []
        self._gauge = FiringGauge(metrics) if metrics is not None else None
        #: Alerts not opened because ``max_alerts`` were already held.
        self.refused = 0
        #: Detections inside a cooldown (counted, no alert).
        self.suppressed = 0

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

    # --------------------------------------------------- hand-over with the model

    def export_model(self, model: str) -> list[dict[str, Any]]:
        """The active alerts of ``model``, checkpointed with its detectors."""
        return [t.to_state() for t in self._active.values() if t.labels.get("model") == model]

    def import_model(self, states: Iterable[Mapping[str, Any]]) -> int:
        """Take over the active alerts a model's previous holder checkpointed, silently.

        A firing alert stays firing here without a new ``firing`` change: the
        fleet notifies once per incident whichever replica holds the model.
        """
        taken = 0
        for state in states:
            tracked = Tracked.from_state(state)
            if tracked.fingerprint not in self._active:
                self._active[tracked.fingerprint] = tracked
                taken += 1
        self._export_gauge()
        return taken

    def drop_model(self, model: str) -> None:
        """Forget ``model``'s active alerts without resolving them: another replica holds it."""
        for fp in [fp for fp, t in self._active.items() if t.labels.get("model") == model]:
            del self._active[fp]
        self._export_gauge()

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
            When :data:`~service.alerting.model.MAX_SILENCES` silences are already held.
        """
        at = self._clock() if now is None else now
        self._forget_expired(at)
        return self._silences.add(matchers, ends_at, created_by, comment, starts_at, at)

    def delete_silence(self, silence_id: str) -> Silence:
        """Remove a silence at once; its Alertmanager copy goes on the next flush.

        Raises :class:`SilenceNotFound`.
        """
        return self._silences.delete(silence_id)

    def list_silences(
        self, include_expired: bool = False, now: float | None = None
    ) -> list[Silence]:
        return self._silences.listed(include_expired, self._clock() if now is None else now)

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
        return [a for a in alerts if passes(a, f)]

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
        silences = self._silences.take_changes()
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
        self._active[fp] = Tracked.open(
            name,
            rule,
            labels,
            fp,
            at,
            holding=holding,
            extra=extra or {},
            runbook_url=self.rules.runbook_url(name, self._runbook_base),
            config_version=str(self._config_version()),
            policy_version=self.rules.version,
        )
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

    def _snapshot(self, tracked: Tracked, at: float) -> Alert:
        return tracked.snapshot(self._silenced_by(tracked.labels, at))

    def _with_silences(self, alert: Alert, at: float) -> Alert:
        silenced_by = self._silenced_by(alert.labels, at)
        if silenced_by == alert.silenced_by:
            return alert
        return alert.model_copy(update={"silenced_by": silenced_by})

    def _silenced_by(self, labels: Mapping[str, str], at: float) -> tuple[str, ...]:
        return self._silences.silenced_by(labels, at)

    def _active_models(self, name: AlertName) -> list[str]:
        return [t.labels["model"] for t in self._active.values() if t.name is name]

    def _remember_cooldown(self, fp: str, until: float) -> None:
        self._cooldown_until[fp] = until
        self._cooldown_until.move_to_end(fp)
        while len(self._cooldown_until) > self.rules.max_alerts:
            self._cooldown_until.popitem(last=False)

    def _forget_expired(self, at: float) -> None:
        expired = [fp for fp, until in self._cooldown_until.items() if until <= at]
        for fp in expired:
            del self._cooldown_until[fp]
        self._silences.forget_expired(at)

    def _count_transition(self, name: AlertName, state: str) -> None:
        if self._metrics is not None:
            self._metrics.alert_transitions.labels(name.value, state).inc()

    def _export_gauge(self) -> None:
        if self._gauge is not None:
            self._gauge.export(self._active.values())
