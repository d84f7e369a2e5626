"""Join ground-truth labels to the events they describe, in bounded memory.

Labels (``inference.labels``) arrive minutes to hours after their event, and
sometimes before it (another partition, a replay). ``LabelJoin`` keeps

- recent events (model, version, prediction, protected attributes) keyed by
  ``event_id``, bounded by ``max_size`` and ``ttl_s``;
- a small buffer of labels that arrived before their event, bounded by
  ``max_pending`` and the same TTL;
- the ids of recently dropped events, so a label for one of them is counted as
  ``late`` rather than ``unmatched``, and of recently joined ones (``duplicate``):
  the last ``max_size`` of each, as fixed-size digests allocated once
  (:class:`~detectors.id_ring.IdRing`, ~3 MiB each for 100k), so the join's
  memory does not grow with traffic toward its bound.

Outcomes are counted in ``guardian_labels_total{outcome}``: ``matched``,
``late`` (event already expired or evicted), ``unmatched`` (a pending label
whose event never came), ``evicted`` (an event pushed out by ``max_size``
before its label), ``expired`` (an event that outlived ``ttl_s`` unlabelled),
``duplicate`` (a second label for a joined event).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from detectors.id_ring import IdRing
from detectors.telemetry import DetectorTelemetry


@dataclass(frozen=True, slots=True)
class JoinedOutcome:
    """A prediction with its ground truth, for concept drift and fairness."""

    event_id: str
    model: str
    version: str
    prediction: Any
    label: Any
    protected: dict[str, str]
    event_ts: float
    label_ts: float

    @property
    def error(self) -> bool:
        """Whether the prediction was wrong (numbers compared as numbers)."""
        p, y = self.prediction, self.label
        if isinstance(p, int | float) and isinstance(y, int | float):
            return float(p) != float(y)
        return bool(p != y)


@dataclass(slots=True)
class _Event:
    model: str
    version: str
    prediction: Any
    protected: dict[str, str]
    ts: float
    seen: float


class LabelJoin:
    """Bounded, time-limited join of labels to events by ``event_id``.

    Parameters
    ----------
    max_size
        Events kept waiting for their label; the oldest is evicted beyond it.
    ttl_s
        Seconds an event (or an early label) waits before it is dropped.
    metrics
        Where join outcomes are counted; ``None`` in tests that do not look.
    max_pending
        Labels kept waiting for their event (defaults to ``max_size // 10``).

    Examples
    --------
    >>> join = LabelJoin(max_size=100, ttl_s=60.0, metrics=None)
    >>> join.add_event("e1", "credit-risk", "3.2.0", 1, {"gender": "f"}, ts=0.0)
    >>> out = join.add_label("e1", 0, now=5.0)
    >>> (out.model, out.prediction, out.label, out.error)
    ('credit-risk', 1, 0, True)
    """

    def __init__(
        self,
        max_size: int,
        ttl_s: float,
        metrics: DetectorTelemetry | None,
        max_pending: int | None = None,
    ) -> None:
        if max_size < 1 or ttl_s <= 0:
            raise ValueError("max_size must be >= 1 and ttl_s > 0")
        self.max_size = max_size
        self.ttl_s = ttl_s
        self.max_pending = max(1, max_size // 10) if max_pending is None else max_pending
        self._metrics = metrics
        self._events: OrderedDict[str, _Event] = OrderedDict()
        self._pending: OrderedDict[str, tuple[Any, float]] = OrderedDict()  # id -> (label, seen)
        self._dropped = IdRing(max_size)
        self._joined = IdRing(max_size)
        self._children: dict[str, Any] = {}
        self.counts: dict[str, int] = dict.fromkeys(
            ("matched", "late", "unmatched", "evicted", "expired", "duplicate"), 0
        )

    def __len__(self) -> int:
        return len(self._events)

    @property
    def pending(self) -> int:
        """Labels waiting for their event."""
        return len(self._pending)

    def _count(self, outcome: str, n: int = 1) -> None:
        self.counts[outcome] += n
        if self._metrics is not None:
            # Resolved once per outcome: a full buffer evicts one event per event added.
            child = self._children.get(outcome)
            if child is None:
                child = self._children[outcome] = self._metrics.labels_joined.labels(outcome)
            child.inc(n)

    def expire(self, now: float) -> None:
        """Drop events and pending labels older than ``ttl_s`` (called by every add)."""
        horizon = now - self.ttl_s
        events = self._events
        while events:
            event_id, event = next(iter(events.items()))
            if event.seen >= horizon:
                break
            events.popitem(last=False)
            self._dropped.add(event_id)
            self._count("expired")
        pending = self._pending
        while pending:
            _, (_, seen) = next(iter(pending.items()))
            if seen >= horizon:
                break
            pending.popitem(last=False)
            self._count("unmatched")

    def add_event(
        self,
        event_id: str,
        model: str,
        version: str,
        prediction: Any,
        protected: dict[str, str],
        ts: float,
        now: float | None = None,
    ) -> JoinedOutcome | None:
        """Remember an event; returns its outcome at once if its label came first.

        ``ts`` is the event's own timestamp; ``now`` the processing time that
        the TTL counts from (defaults to ``ts``).
        """
        seen = ts if now is None else now
        self.expire(seen)
        early = self._pending.pop(event_id, None)
        if early is not None:
            label, label_seen = early
            self._count("matched")
            self._joined.add(event_id)
            return JoinedOutcome(
                event_id, model, version, prediction, label, dict(protected), ts, label_seen
            )
        events = self._events
        if event_id in events:  # a redelivered event moves to the end; a new one is there
            events.move_to_end(event_id)
        events[event_id] = _Event(model, version, prediction, dict(protected), ts, seen)
        if len(self._events) > self.max_size:
            old_id, _ = self._events.popitem(last=False)
            self._dropped.add(old_id)
            self._count("evicted")
        return None

    def add_label(self, event_id: str, label: Any, now: float) -> JoinedOutcome | None:
        """Join a label to its event; ``None`` if the event is gone or not seen yet."""
        self.expire(now)
        event = self._events.pop(event_id, None)
        if event is not None:
            self._count("matched")
            self._joined.add(event_id)
            return JoinedOutcome(
                event_id,
                event.model,
                event.version,
                event.prediction,
                label,
                event.protected,
                event.ts,
                now,
            )
        if event_id in self._joined:
            self._count("duplicate")
            return None
        if event_id in self._dropped:
            self._count("late")
            return None
        self._pending[event_id] = (label, now)
        self._pending.move_to_end(event_id)
        if len(self._pending) > self.max_pending:
            self._pending.popitem(last=False)
            self._count("unmatched")
        return None
