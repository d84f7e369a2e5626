"""Replay a model's sanitized events through a proposed detector config, off the pipeline.

Admins tune with evidence: ``POST /v1/detectors/backtest`` reads the model's
events back from the retention topics and hands them here. A fresh registry
built from the proposed specs (and segments) learns them in order; the answer
lists the detections with their explanations and the alarm rate per day of
replayed event time. Bounded: at most ``max_events`` events and ``max_alerts``
alerts are kept, and nothing here touches the live detectors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from detectors.drift.explain import describe
from detectors.drift.segments import Segmenter
from detectors.registry import DetectorRegistry
from detectors.specs import DetectorSpecs

_SECONDS_PER_DAY = 86_400.0
_CHUNK = 1000


@dataclass
class BacktestResult:
    """What a backtest answers."""

    events: int = 0
    alerts: list[dict[str, Any]] = field(default_factory=list)
    alarm_rate: float = 0.0  # detections per day of replayed event time
    first_ts: float | None = None
    last_ts: float | None = None
    truncated: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "alerts": self.alerts,
            "alarm_rate": self.alarm_rate,
            "span_seconds": (self.last_ts or 0.0) - (self.first_ts or 0.0),
            "truncated": self.truncated,
        }


def backtest(
    specs: DetectorSpecs,
    events: Iterable[tuple[Mapping[str, Any], float]],
    *,
    max_events: int = 200_000,
    max_alerts: int = 1000,
) -> BacktestResult:
    """Feed ``(event, ts)`` pairs (sanitized events, in order) to fresh detectors of ``specs``.

    Examples
    --------
    >>> specs = DetectorSpecs.model_validate({"defaults": {"numeric": [{"kind": "rank_window"}]}})
    >>> evs = [({"model": {"name": "m", "version": "1"},
    ...          "inputs": {"features": {"x": float(i % 7 + (5 if i > 4000 else 0))}}}, i / 10)
    ...        for i in range(6000)]
    >>> out = backtest(specs, evs)
    >>> out.events, [(a["feature"], a["segment"]) for a in out.alerts]
    (6000, [('x', 'all')])
    """
    registry = DetectorRegistry(specs)
    segments = Segmenter(lambda: specs.segments)
    result = BacktestResult()
    rows: list[tuple[str, str, Mapping[str, Any], Mapping[str, Any], float]] = []

    def flush() -> None:
        for hit in registry.observe_batch(rows):
            if len(result.alerts) >= max_alerts:
                result.truncated = True
                break
            result.alerts.append(
                {
                    "model": hit.model,
                    "version": hit.version,
                    "feature": hit.feature,
                    "detector": hit.detector,
                    "at": hit.at,
                    "n_seen": hit.n_seen,
                    **describe(hit),
                }
            )
        rows.clear()

    for event, ts in events:
        if result.events >= max_events:
            result.truncated = True
            break
        model = event.get("model") or {}
        name, version = str(model.get("name", "")), str(model.get("version", ""))
        inputs, outputs = event.get("inputs") or {}, event.get("outputs") or {}
        features = inputs.get("features") or {}
        rows.append((name, version, features, outputs, ts))
        rows.extend(segments.rows(event, name, version, features, outputs, ts))
        result.events += 1
        result.first_ts = ts if result.first_ts is None else result.first_ts
        result.last_ts = ts
        if len(rows) >= _CHUNK:
            flush()
    flush()
    span = (result.last_ts or 0.0) - (result.first_ts or 0.0)
    if span > 0:
        result.alarm_rate = len(result.alerts) * _SECONDS_PER_DAY / span
    return result
