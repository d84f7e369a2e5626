"""The detect stage: drift and fairness detectors fed from sanitized events and joined labels.

Detectors see numbers and configured group labels only, never text: the
registry hashes categories, the fairness window keeps group ids, and the label
join keeps the prediction and protected groups for at most its TTL.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import datetime
from typing import Any

from detectors.drift.segments import Segmenter
from detectors.fairness.monitor import FairnessMonitor
from detectors.label_join import JoinedOutcome, LabelJoin
from detectors.performance.monitor import PerformanceMonitor
from detectors.registry import DetectorRegistry
from detectors.results import DriftResult, FairnessResult, PerformanceResult
from detectors.text.statistics import TextStatistics
from service.alerting.engine import AlertEngine
from service.pipeline.context import EventContext

_MAX_TRACKED_MODELS = 10_000


def event_time(timestamp: str) -> float:
    """Unix seconds of a validated ISO-8601 timestamp."""
    return datetime.fromisoformat(timestamp).timestamp()


class DetectStage:
    """Feed every valid event to the drift registry, the label join and the fairness monitor."""

    name = "detect"

    def __init__(
        self,
        registry: DetectorRegistry,
        fairness: FairnessMonitor,
        join: LabelJoin,
        alerts: AlertEngine | None,
        performance: PerformanceMonitor | None = None,
        text: TextStatistics | None = None,
    ) -> None:
        self.registry = registry
        self.fairness = fairness
        self.join = join
        self.alerts = alerts
        self.segments = Segmenter(lambda: registry.specs.segments)  # issue 17: drift per segment
        self.performance = performance
        #: ``text.<field>.<statistic>`` streams of LLM traffic, fed as extra features
        self.text = text
        #: model name -> processing time it was last seen (for the "model silent" alert)
        self.last_seen: OrderedDict[str, float] = OrderedDict()
        #: (model, version) pairs seen, for GET /v1/models
        self.versions: dict[str, set[str]] = {}
        # Newest event time seen and the wall time it was seen at: the fairness windows run on
        # event time, so a periodic tick must too (a backfill of old events is not "expired").
        self._latest_event_ts: float | None = None
        self._latest_wall: float = 0.0

    def event_clock(self) -> float:
        """Event time now: the newest event time plus the wall time elapsed since it was seen."""
        now = time.time()
        if self._latest_event_ts is None:
            return now
        return self._latest_event_ts + (now - self._latest_wall)

    async def process(self, batch: list[EventContext]) -> None:
        now = time.time()
        results: list[DriftResult | FairnessResult | PerformanceResult] = []
        registry, fairness, join = self.registry, self.fairness, self.join
        performance, text, segments = self._active_parts()
        # Drift detectors learn over the whole batch (one call per detector); fairness and the
        # label join per event.
        drift_rows: list[tuple[str, str, dict[str, Any], dict[str, Any], float]] = []
        seen: dict[tuple[str, str], None] = {}  # (model, version) of the batch: one time, now
        for ctx in batch:
            event = ctx.event
            if not ctx.ok or event is None:
                continue
            model, version = ctx.model, ctx.version
            ts = ctx.ts if ctx.ts is not None else event_time(event["timestamp"])
            inputs = event.get("inputs") or {}
            outputs = event.get("outputs") or {}
            features = inputs.get("features") or {}
            if text is not None:
                texts = text.features(model, version, event)
                if texts:
                    features = {**features, **texts}
            drift_rows.append((model, version, features, outputs, ts))
            if segments is not None:
                drift_rows += segments.rows(event, model, version, features, outputs, ts)
            protected = (event.get("subject") or {}).get("protected") or {}
            prediction = outputs.get("prediction")
            event_id = event["event_id"]
            results.extend(
                fairness.observe(
                    model,
                    version,
                    protected,
                    prediction,
                    score=outputs.get("score"),
                    event_id=event_id,
                    ts=ts,
                )
            )
            if performance is not None:
                results.extend(
                    performance.observe(model, version, outputs, event_id, ts, event=event)
                )
            if prediction is not None:
                early = join.add_event(event_id, model, version, prediction, protected, ts, now=now)
                if early is not None:
                    results.extend(self._joined(early, now))
            seen[(model, version)] = None
            if self._latest_event_ts is None or ts > self._latest_event_ts:
                self._latest_event_ts, self._latest_wall = ts, now
        for model, version in seen:
            self._seen(model, version, now)
        results.extend(registry.observe_batch(drift_rows))
        self._emit(results)

    def _active_parts(
        self,
    ) -> tuple[PerformanceMonitor | None, TextStatistics | None, Segmenter | None]:
        """The optional parts a batch feeds; ``None`` for each with nothing configured.

        Each left out would return nothing for every event of the batch (read once a
        batch: config changes come between batches).
        """
        performance = self.performance
        if performance is not None and performance.idle:
            performance = None
        text = self.text
        if text is not None and not text.active:
            text = None
        return performance, text, (self.segments if self.segments.active else None)

    def on_label(self, label: dict[str, Any]) -> None:
        """A validated label from the labels topic."""
        now = time.time()
        outcome = self.join.add_label(label["event_id"], label["label"], now)
        if outcome is not None:
            self._emit(self._joined(outcome, now))

    def _joined(
        self, outcome: JoinedOutcome, now: float
    ) -> list[DriftResult | FairnessResult | PerformanceResult]:
        results: list[DriftResult | FairnessResult | PerformanceResult] = []
        results.extend(
            self.registry.observe_outcome(outcome.model, outcome.version, outcome.error, now)
        )
        # Labels drive evaluation too: a batch of labels after traffic stopped must update the
        # label-based fairness metrics without waiting for the next event.
        results.extend(
            self.fairness.join_label(outcome.event_id, outcome.label, model=outcome.model)
        )
        if self.performance is not None:
            results.extend(
                self.performance.join_label(
                    outcome.event_id, outcome.label, outcome.model, outcome.version
                )
            )
        return results

    def _seen(self, model: str, version: str, now: float) -> None:
        last = self.last_seen
        if model in last:
            last.move_to_end(model)
        elif len(last) >= _MAX_TRACKED_MODELS:
            last.popitem(last=False)
        last[model] = now
        versions = self.versions.get(model)
        if versions is None:
            if len(self.versions) >= _MAX_TRACKED_MODELS:
                return
            versions = self.versions[model] = set()
        if len(versions) < 100:
            versions.add(version)

    def tick(self) -> list[FairnessResult | PerformanceResult]:
        """Periodic (wall-clock) evaluations: time windows draining, labels joined since."""
        results: list[FairnessResult | PerformanceResult] = []
        results.extend(self.fairness.tick(self.event_clock()))
        if self.performance is not None:
            results.extend(self.performance.tick())
        return results

    def _emit(self, results: list[DriftResult | FairnessResult | PerformanceResult]) -> None:
        if self.alerts is None:
            return
        for result in results:
            self.alerts.ingest(result)
