"""The one path by which values reach the registry's detectors.

Events are grouped per (model, version) into *runs*; streams and detectors are
admitted (or refused at a limit) in event order, as if events came one by one;
then each detector learns its run of values in one :meth:`Detector.feed` call
(a feature first seen at event *k* from event *k* on), which saves the
per-event dispatch. Each detection carries the statistic, ``n_seen`` and event
time of the value that revealed it.

Filters, here and nowhere else: a missing-rate detector sees whether a feature
was absent or null; a numeric feature or output takes ``int``/``float`` values
only (a string or bool in a numeric feature is not comparable); a categorical one
takes anything but ``NaN`` (never a category).

Metric children are resolved once per detector; the statistic gauge is set
every ``statistic_every`` values, not every value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from detectors.results import DriftResult
from detectors.streams import NUMERIC_TYPES, OUTPUT_STREAMS, Stream, StreamTable, Watch

Row = tuple[Mapping[str, Any], Mapping[str, Any], float]
"""``(features, outputs, ts)`` of one event."""

Event = tuple[str, str, Mapping[str, Any], Mapping[str, Any], float]
"""``(model, version, features, outputs, ts)``."""


@dataclass(slots=True)
class _Run:
    """One stream's events in a batch, and the index from which each new stream is fed."""

    stream: Stream
    rows: list[Row] = field(default_factory=list)
    first: dict[str, int] = field(default_factory=dict)


def _feature_values(
    rows: Sequence[Row], name: str, numeric: bool
) -> tuple[list[bool], list[float], list[Any], list[float]]:
    """Missing flags with their times, and the accepted values with theirs."""
    missing: list[bool] = []
    at: list[float] = []
    values: list[Any] = []
    value_at: list[float] = []
    for features, _, ts in rows:
        value = features.get(name)
        missing.append(value is None)
        at.append(ts)
        if value is None:
            continue
        if numeric:
            if type(value) not in NUMERIC_TYPES:
                continue
        elif type(value) is float and value != value:  # NaN is never a category
            continue
        values.append(value)
        value_at.append(ts)
    return missing, at, values, value_at


def _output_values(rows: Sequence[Row], key: str, numeric: bool) -> tuple[list[Any], list[float]]:
    """``outputs[key]`` of each row that has an accepted one, and its time."""
    values: list[Any] = []
    at: list[float] = []
    for _, outputs, ts in rows:
        value = outputs.get(key) if outputs else None
        if value is not None and (not numeric or type(value) in NUMERIC_TYPES):
            values.append(value)
            at.append(ts)
    return values, at


class Feeder:
    """Feeds events and outcomes to the detectors of a :class:`StreamTable`."""

    def __init__(self, table: StreamTable) -> None:
        self._table = table

    def feed_events(self, events: Sequence[Event]) -> list[DriftResult]:
        """Admit what the events need, then feed every detector its run; the detections."""
        runs: dict[tuple[str, str], _Run] = {}
        for model, version, features, outputs, ts in events:
            run = runs.get((model, version))
            if run is None:
                stream = self._table.stream(model, version)
                if stream is None:
                    continue
                run = runs[(model, version)] = _Run(stream)
            stream = run.stream
            if not stream.features.keys() >= features.keys():
                self._admit_features(run, features)
            if outputs and stream.unseen_outputs:
                self._admit_outputs(run, outputs)
            run.rows.append((features, outputs, ts))
        results: list[DriftResult] = []
        for run in runs.values():
            self._feed_run(run, results)
        return results

    def _admit_features(self, run: _Run, features: Mapping[str, Any]) -> None:
        """Create the feature slots this row is the first to show; they are fed from it on."""
        stream, n = run.stream, len(run.rows)
        before = len(stream.slots)
        self._table.admit_features(stream, features)
        for slot in stream.slots[before:]:
            run.first[slot.name] = n

    def _admit_outputs(self, run: _Run, outputs: Mapping[str, Any]) -> None:
        """Create the output streams this row is the first to show; they are fed from it on."""
        stream, n = run.stream, len(run.rows)
        for name in list(stream.unseen_outputs):
            key, _, numeric = OUTPUT_STREAMS[name]
            value = outputs.get(key)
            if value is not None and (not numeric or type(value) in NUMERIC_TYPES):
                self._table.derived(stream, name)
                run.first[name] = n

    def _feed_run(self, run: _Run, results: list[DriftResult]) -> None:
        stream, rows, first = run.stream, run.rows, run.first
        for slot in stream.slots:
            start = first.get(slot.name, 0)
            missing, at, values, value_at = _feature_values(
                rows[start:] if start else rows, slot.name, slot.numeric
            )
            if slot.missing:
                self.feed(slot.missing, missing, at, results)
            self.feed(slot.values, values, value_at, results)
        for name, (key, _, numeric) in OUTPUT_STREAMS.items():
            watches = stream.derived.get(name)
            if watches:
                values, at = _output_values(rows[first.get(name, 0) :], key, numeric)
                self.feed(watches, values, at, results)

    def feed(
        self, watches: list[Watch], values: list[Any], at: list[float], results: list[DriftResult]
    ) -> None:
        """Feed ``values`` (event times ``at``) to each detector of ``watches`` in one pass."""
        if not values:
            return
        stat_every = self._table.specs.statistic_every
        for w in watches:
            det = w.detector
            i = det.feed(values)
            while i >= 0:
                results.append(_fire(w, at[i]))
                i = det.feed(values, i + 1)
            if w.gauge is not None:
                w.tick += len(values)
                if w.tick >= stat_every:
                    w.tick = 0
                    w.gauge.set(det.statistic)


def _fire(w: Watch, ts: float) -> DriftResult:
    det = w.detector
    statistic = det.statistic
    if w.counter is not None:
        w.counter.inc()
        w.gauge.set(statistic)
    return DriftResult(
        model=w.model,
        version=w.version,
        feature=w.feature,
        detector=w.spec.kind,
        detector_id=w.id,
        statistic=statistic,
        at=ts,
        n_seen=det.n_seen,
        details={"n_detections": float(det.n_detections)},
    )
