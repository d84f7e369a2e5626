"""The detector registry: creates and feeds detectors per (model, version, stream).

A *stream* is one sequence of values of one model version: an input feature
(``age``), ``outputs.score``, ``outputs.prediction``, ``missing:<feature>``
(1 when the feature is absent or null) or ``error_rate`` (1 when a joined label
disagrees with the prediction). Detectors are created the first time a stream
is seen, from :class:`~detectors.specs.DetectorSpecs`, within its limits;
beyond them nothing is created and ``guardian_detectors_refused_total{limit}``
counts the refusal (once per refused model or feature).

Each detector has a stable id ``<model>/<version>/<stream>/<kind>`` used by the
control plane (list, get, patch params, reset) and by checkpoints (export and
import state).

Hot path: one dict lookup per event for the model version, one subset test of
the feature names, then a loop over pre-built per-feature lists of detectors.
Metric children are resolved once per detector; the statistic gauge is set
every ``statistic_every`` values, not every value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from detectors.base import Detector, DetectorStateError
from detectors.drift.explain import explain_numbers
from detectors.drift.family import join_family
from detectors.drift.reference import pin_from_profile
from detectors.drift.values import usable
from detectors.results import DriftResult
from detectors.specs import INPUT_OF, DetectorSpec, DetectorSpecs
from detectors.telemetry import DetectorTelemetry

SCORE = "outputs.score"
PREDICTION = "outputs.prediction"
ERROR_RATE = "error_rate"
MISSING_PREFIX = "missing:"

_NUMERIC_TYPES = (int, float)
_MAX_REMEMBERED_REFUSALS = 10_000


class UnknownDetectorError(KeyError):
    """No detector with this id lives in this replica."""


@dataclass(frozen=True, slots=True)
class DetectorInfo:
    """What the control plane shows about one detector (no event values)."""

    id: str
    model: str
    version: str
    feature: str
    type: str
    kind: str
    params: dict[str, Any]
    state: dict[str, float | int | bool]


@dataclass(slots=True)
class _Watch:
    """One detector on one stream, with its resolved metric children."""

    id: str
    model: str
    version: str
    feature: str
    ftype: str
    spec: DetectorSpec
    detector: Detector
    counter: Any = None
    gauge: Any = None
    tick: int = 0


@dataclass(slots=True)
class _FeatureSlot:
    name: str
    numeric: bool
    values: list[_Watch]
    missing: list[_Watch]


@dataclass(slots=True)
class _Stream:
    model: str
    version: str
    features: dict[str, _FeatureSlot] = field(default_factory=dict)
    slots: list[_FeatureSlot] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)
    score: list[_Watch] | None = None
    prediction: list[_Watch] | None = None
    error: list[_Watch] | None = None
    last_ts: float = 0.0

    def clock(self) -> float:
        """Time of this model version's latest event (budgeted detectors measure the rate)."""
        return self.last_ts

    def n_value_watches(self) -> int:
        """Detectors on this model version's values: the family sharing its alarm budget."""
        n = sum(len(slot.values) for slot in self.slots)
        return n + sum(len(ws or ()) for ws in (self.score, self.prediction))


def _output_values(
    rows: Sequence[tuple[Mapping[str, Any], Mapping[str, Any], float]],
    name: str,
    numeric: bool = False,
) -> tuple[list[Any], list[float]]:
    """``outputs[name]`` of each row that has one (a number, if ``numeric``), and its time."""
    values: list[Any] = []
    at: list[float] = []
    for _, outputs, ts in rows:
        value = usable(outputs.get(name), numeric) if outputs else None
        if value is not None:
            values.append(value)
            at.append(ts)
    return values, at


@dataclass(slots=True)
class _Run:
    """One stream's events in a batch, and the index from which each new stream is fed."""

    stream: _Stream
    rows: list[tuple[Mapping[str, Any], Mapping[str, Any], float]] = field(default_factory=list)
    first: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """Outcome of :meth:`DetectorRegistry.import_state`."""

    restored: list[str]
    refused: dict[str, str]  # detector id -> reason


class DetectorRegistry:
    """Creates, feeds and exposes drift detectors.

    Parameters
    ----------
    specs
        Validated detector specs (``DetectorSpecs.load()`` for the shipped defaults).
    metrics
        Guardian's metrics; ``None`` in unit tests and benchmarks that do not need them.

    Examples
    --------
    >>> reg = DetectorRegistry(DetectorSpecs())
    >>> reg.observe("credit-risk", "3.2.0", {"age": 41.0, "country": "DE"}, {"score": 0.8}, ts=0.0)
    []
    >>> sorted(d.id for d in reg.list_detectors())  # doctest: +NORMALIZE_WHITESPACE
    ['credit-risk/3.2.0/age/adwin', 'credit-risk/3.2.0/country/categorical',
     'credit-risk/3.2.0/missing:age/missing_rate', 'credit-risk/3.2.0/missing:country/missing_rate',
     'credit-risk/3.2.0/outputs.score/adwin']
    """

    def __init__(self, specs: DetectorSpecs, metrics: DetectorTelemetry | None = None) -> None:
        self._specs = specs
        self._metrics = metrics
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._watches: dict[str, _Watch] = {}
        self._refused_streams: set[tuple[str, str]] = set()
        self._stat_every = specs.statistic_every

    @property
    def specs(self) -> DetectorSpecs:
        return self._specs

    # -- hot path ------------------------------------------------------------------------------

    def observe(
        self,
        model: str,
        version: str,
        features: Mapping[str, float | str | bool | None],
        outputs: Mapping[str, Any],
        ts: float,
    ) -> list[DriftResult]:
        """Feed one event's features and outputs; return the detections it caused."""
        stream = self._streams.get((model, version))
        if stream is None:
            stream = self._admit_stream(model, version)
            if stream is None:
                return []
        results: list[DriftResult] = []
        stream.last_ts = ts
        if not stream.features.keys() >= features.keys():
            self._admit_features(stream, features)
        for slot in stream.slots:
            value = usable(features.get(slot.name), slot.numeric)
            if slot.missing:
                self._feed(slot.missing, value is None, ts, results)
            if value is None:
                continue
            self._feed(slot.values, value, ts, results)
        if outputs:
            score = usable(outputs.get("score"), True)
            if score is not None:
                watches = stream.score
                if watches is None:
                    watches = stream.score = self._create_watches(stream, SCORE, "score")
                self._feed(watches, score, ts, results)
            prediction = outputs.get("prediction")
            if prediction is not None:
                watches = stream.prediction
                if watches is None:
                    watches = stream.prediction = self._create_watches(
                        stream, PREDICTION, "prediction"
                    )
                self._feed(watches, prediction, ts, results)
        return results

    def observe_batch(
        self, events: Sequence[tuple[str, str, Mapping[str, Any], Mapping[str, Any], float]]
    ) -> list[DriftResult]:
        """:meth:`observe` for many events, each detector fed its run of values in one call.

        ``events`` are ``(model, version, features, outputs, ts)`` in stream order.
        Streams and detectors are admitted (or refused at a limit) in event order,
        exactly as per-event :meth:`observe` would; then each detector learns the
        same values in the same order (a feature first seen at event *k* from event
        *k* on) through :meth:`Detector.feed`, which saves the per-event dispatch.
        Each detection carries the statistic, ``n_seen`` and event time of the value
        that revealed it; only the order of the returned results differs (per
        detector, not per event). ``tests/test_drift_registry_batch.py`` checks
        both give the same detectors, states and detections.
        """
        runs: dict[tuple[str, str], _Run] = {}
        for model, version, features, outputs, ts in events:
            key = (model, version)
            run = runs.get(key)
            if run is None:
                stream = self._streams.get(key)
                if stream is None:
                    stream = self._admit_stream(model, version)
                    if stream is None:
                        continue
                run = runs[key] = _Run(stream)
            stream = run.stream
            n = len(run.rows)
            run.rows.append((features, outputs, ts))
            stream.last_ts = ts
            if not stream.features.keys() >= features.keys():
                before = len(stream.slots)
                self._admit_features(stream, features)
                for slot in stream.slots[before:]:
                    run.first[slot.name] = n
            if outputs:
                if stream.score is None:
                    score = usable(outputs.get("score"), True)
                    if score is not None:
                        stream.score = self._create_watches(stream, SCORE, "score")
                        run.first[SCORE] = n
                if stream.prediction is None and outputs.get("prediction") is not None:
                    stream.prediction = self._create_watches(stream, PREDICTION, "prediction")
                    run.first[PREDICTION] = n
        results: list[DriftResult] = []
        for run in runs.values():
            self._feed_run(run, results)
        return results

    def _feed_run(self, run: _Run, results: list[DriftResult]) -> None:
        stream, rows, first = run.stream, run.rows, run.first
        for slot in stream.slots:
            start = first.get(slot.name, 0)
            name, numeric = slot.name, slot.numeric
            missing: list[bool] = []
            at: list[float] = []
            values: list[Any] = []
            value_at: list[float] = []
            for features, _, ts in rows[start:] if start else rows:
                value = usable(features.get(name), numeric)
                missing.append(value is None)
                at.append(ts)
                if value is None:
                    continue
                values.append(value)
                value_at.append(ts)
            if slot.missing:
                self._feed_many(slot.missing, missing, at, results)
            if values:
                self._feed_many(slot.values, values, value_at, results)
        if stream.score:
            scores, at = _output_values(rows[first.get(SCORE, 0) :], "score", numeric=True)
            self._feed_many(stream.score, scores, at, results)
        if stream.prediction:
            predictions, at = _output_values(rows[first.get(PREDICTION, 0) :], "prediction")
            self._feed_many(stream.prediction, predictions, at, results)

    def _feed_many(
        self, watches: list[_Watch], values: list[Any], at: list[float], results: list[DriftResult]
    ) -> None:
        """Feed ``values`` (event times ``at``) to each detector of ``watches`` in one pass."""
        if not values:
            return
        stat_every = self._stat_every
        for w in watches:
            det = w.detector
            i = det.feed(values)
            while i >= 0:
                results.append(self._fire(w, at[i]))
                i = det.feed(values, i + 1)
            if w.gauge is not None:
                w.tick += len(values)
                if w.tick >= stat_every:
                    w.tick = 0
                    w.gauge.set(det.statistic)

    def observe_outcome(
        self, model: str, version: str, error: bool, ts: float
    ) -> list[DriftResult]:
        """Feed whether a labelled prediction was wrong (concept drift on the error rate)."""
        stream = self._streams.get((model, version))
        if stream is None:
            stream = self._admit_stream(model, version)
            if stream is None:
                return []
        watches = stream.error
        if watches is None:
            watches = stream.error = self._create_watches(stream, ERROR_RATE, "error")
        results: list[DriftResult] = []
        self._feed(watches, error, ts, results)
        return results

    def _feed(
        self, watches: list[_Watch], value: Any, ts: float, results: list[DriftResult]
    ) -> None:
        stat_every = self._stat_every
        for w in watches:
            det = w.detector
            if det.update(value).drift_detected:
                results.append(self._fire(w, ts))
            if w.gauge is not None:
                w.tick += 1
                if w.tick >= stat_every:
                    w.tick = 0
                    w.gauge.set(det.statistic)

    def _fire(self, w: _Watch, ts: float) -> DriftResult:
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
            details={"n_detections": float(det.n_detections), **explain_numbers(det)},
        )

    # -- admission -----------------------------------------------------------------------------

    def _refuse(self, limit: str) -> None:
        if self._metrics is not None:
            self._metrics.detectors_refused.labels(limit).inc()

    def _admit_stream(self, model: str, version: str) -> _Stream | None:
        key = (model, version)
        if len(self._streams) >= self._specs.limits.max_models:
            if key not in self._refused_streams:
                self._refuse("models")
                if len(self._refused_streams) < _MAX_REMEMBERED_REFUSALS:
                    self._refused_streams.add(key)
            return None
        stream = _Stream(model, version)
        self._streams[key] = stream
        return stream

    def _admit_features(self, stream: _Stream, features: Mapping[str, Any]) -> None:
        for name, value in features.items():
            if name in stream.features or name in stream.refused:
                continue
            if value is None:
                continue  # type unknown until a value arrives
            self._admit_feature(stream, name, value)

    def _admit_feature(self, stream: _Stream, name: str, value: Any) -> _FeatureSlot | None:
        if len(stream.features) >= self._specs.limits.max_features_per_model:
            self._refuse_feature(stream, name, "features")
            return None
        numeric = type(value) in _NUMERIC_TYPES
        ftype = "numeric" if numeric else "categorical"
        value_specs = self._specs.detectors_for(stream.model, name, ftype)
        missing_specs = self._specs.detectors_for(stream.model, name, "missing")
        needed = len(value_specs) + len(missing_specs)
        if len(self._watches) + needed > self._specs.limits.max_detectors:
            self._refuse_feature(stream, name, "detectors")
            return None
        slot = _FeatureSlot(
            name=name,
            numeric=numeric,
            values=self._build(stream, name, ftype, value_specs),
            missing=self._build(stream, MISSING_PREFIX + name, "missing", missing_specs),
        )
        stream.features[name] = slot
        stream.slots.append(slot)
        return slot

    def _refuse_feature(self, stream: _Stream, name: str, limit: str) -> None:
        self._refuse(limit)
        if len(stream.refused) < _MAX_REMEMBERED_REFUSALS:
            stream.refused.add(name)

    def _create_watches(self, stream: _Stream, feature: str, ftype: str) -> list[_Watch]:
        specs = self._specs.detectors_for(stream.model, feature, ftype)
        if len(self._watches) + len(specs) > self._specs.limits.max_detectors:
            self._refuse("detectors")
            return []
        return self._build(stream, feature, ftype, specs)

    def _build(
        self, stream: _Stream, feature: str, ftype: str, specs: list[DetectorSpec]
    ) -> list[_Watch]:
        watches: list[_Watch] = []
        for spec in specs:
            base_id = f"{stream.model}/{stream.version}/{feature}/{spec.kind}"
            wid, n = base_id, 1
            while wid in self._watches:
                n += 1
                wid = f"{base_id}#{n}"
            w = _Watch(wid, stream.model, stream.version, feature, ftype, spec, spec.build())
            join_family(w.detector, self._specs.budget, stream.n_value_watches, stream.clock)
            pin_from_profile(w.detector, self._specs.references.get(stream.model), feature)
            self._attach_metrics(w)
            self._watches[wid] = w
            watches.append(w)
        if self._metrics is not None:
            self._metrics.detectors_active.set(len(self._watches))
        return watches

    def _attach_metrics(self, w: _Watch) -> None:
        m = self._metrics
        if m is None:
            return
        labels = (m.model_label(w.model), m.feature_label(w.feature), w.spec.kind)
        w.counter = m.drift_detected.labels(*labels)
        w.gauge = m.drift_statistic.labels(*labels)

    # -- control plane -------------------------------------------------------------------------

    def _watch(self, detector_id: str) -> _Watch:
        try:
            return self._watches[detector_id]
        except KeyError:
            raise UnknownDetectorError(detector_id) from None

    @staticmethod
    def _info(w: _Watch) -> DetectorInfo:
        det = w.detector
        return DetectorInfo(
            id=w.id,
            model=w.model,
            version=w.version,
            feature=w.feature,
            type=w.ftype,
            kind=w.spec.kind,
            params=det.params.model_dump(mode="json"),
            state={
                "n_seen": det.n_seen,
                "n_detections": det.n_detections,
                "statistic": det.statistic,
                "drift_detected": det.drift_detected,
            },
        )

    def list_detectors(
        self,
        model: str | None = None,
        version: str | None = None,
        feature: str | None = None,
        kind: str | None = None,
    ) -> list[DetectorInfo]:
        """Detectors of this replica, optionally filtered, in creation order."""
        return [
            self._info(w)
            for w in self._watches.values()
            if (model is None or w.model == model)
            and (version is None or w.version == version)
            and (feature is None or w.feature == feature)
            and (kind is None or w.spec.kind == kind)
        ]

    def get(self, detector_id: str) -> DetectorInfo:
        """One detector; raises :class:`UnknownDetectorError`."""
        return self._info(self._watch(detector_id))

    def patch_params(self, detector_id: str, partial: Mapping[str, Any]) -> DetectorInfo:
        """Validate a partial params change and apply it live (the detector restarts).

        Raises ``pydantic.ValidationError`` naming unknown or out-of-range params;
        nothing changes in that case.
        """
        w = self._watch(detector_id)
        w.detector.set_params(partial)
        return self._info(w)

    def reset(self, detector_id: str) -> DetectorInfo:
        """Forget what one detector learnt (operator action after a fixed incident)."""
        w = self._watch(detector_id)
        w.detector.reset()
        return self._info(w)

    # -- state ---------------------------------------------------------------------------------

    def export_state(self, ids: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Checkpoint records keyed by detector id (JSON; numbers only in ``state``)."""
        selected = self._watches.values() if ids is None else [self._watch(i) for i in ids]
        return {
            w.id: {
                "model": w.model,
                "version": w.version,
                "feature": w.feature,
                "type": w.ftype,
                "kind": w.spec.kind,
                "params": w.detector.params.model_dump(mode="json"),
                "state": w.detector.export_state(),
            }
            for w in selected
        }

    def ids_of_model(self, model: str) -> list[str]:
        """Ids of every detector of ``model`` (all versions), in creation order."""
        return [w.id for w in self._watches.values() if w.model == model]

    def drop_model(self, model: str) -> int:
        """Forget every detector of ``model``; return how many were dropped.

        Used when the model's input partition is revoked: the replica that is
        assigned the partition restores the detectors from their checkpoints,
        and keeping a stale copy here would only waste memory (and, should the
        partition come back, shadow the newer checkpoint).
        """
        dropped = [wid for wid, w in self._watches.items() if w.model == model]
        for wid in dropped:
            del self._watches[wid]
        for key in [k for k in self._streams if k[0] == model]:
            del self._streams[key]
        self._refused_streams = {k for k in self._refused_streams if k[0] != model}
        if self._metrics is not None:
            self._metrics.detectors_active.set(len(self._watches))
        return len(dropped)

    def import_state(self, records: Mapping[str, Mapping[str, Any]]) -> ImportReport:
        """Restore checkpoint records, creating their detectors if this replica lacks them.

        A record is refused (and reported) when its detector cannot be created
        within the limits, its params do not validate or its state is malformed.
        """
        restored: list[str] = []
        refused: dict[str, str] = {}
        for detector_id, record in records.items():
            try:
                w = self._watches.get(detector_id) or self._create_for_record(detector_id, record)
                if w is None:
                    refused[detector_id] = "limit or unknown stream"
                    continue
                if record.get("kind") != w.spec.kind:
                    refused[detector_id] = "kind differs"
                    continue
                params = w.detector.Params.model_validate(record["params"])
                if params != w.detector.params:
                    w.detector.set_params(params.model_dump())
                w.detector.import_state(record["state"])
            except (DetectorStateError, ValueError, KeyError, TypeError) as exc:
                refused[detector_id] = type(exc).__name__
                continue
            restored.append(detector_id)
        return ImportReport(restored, refused)

    def _create_for_record(self, detector_id: str, record: Mapping[str, Any]) -> _Watch | None:
        model, version, feature, ftype = (
            str(record["model"]),
            str(record["version"]),
            str(record["feature"]),
            str(record["type"]),
        )
        if ftype not in INPUT_OF:
            return None
        stream = self._streams.get((model, version)) or self._admit_stream(model, version)
        if stream is None:
            return None
        if ftype in ("numeric", "categorical", "missing"):
            name = feature.removeprefix(MISSING_PREFIX) if ftype == "missing" else feature
            if name not in stream.features:
                # Records are exported in creation order, so a feature's value
                # detector comes before its missing-rate detector and fixes its type.
                self._admit_feature(stream, name, "" if ftype == "categorical" else 0.0)
        elif ftype == "score" and stream.score is None:
            stream.score = self._create_watches(stream, SCORE, "score")
        elif ftype == "prediction" and stream.prediction is None:
            stream.prediction = self._create_watches(stream, PREDICTION, "prediction")
        elif ftype == "error" and stream.error is None:
            stream.error = self._create_watches(stream, ERROR_RATE, "error")
        return self._watches.get(detector_id)

    # -- live config ---------------------------------------------------------------------------

    def replace_specs(self, specs: DetectorSpecs) -> None:
        """Apply new specs live.

        Streams whose resolved detector list is unchanged keep their detectors
        (state and patched params included); the others get fresh detectors.
        New limits apply to what is created from now on.
        """
        before = self._specs.references
        self._specs = specs
        self._stat_every = specs.statistic_every
        if specs.references != before:
            for w in self._watches.values():
                pin_from_profile(w.detector, specs.references.get(w.model), w.feature)
        for stream in self._streams.values():
            for slot in stream.slots:
                ftype = "numeric" if slot.numeric else "categorical"
                slot.values = self._respec(stream, slot.name, ftype, slot.values)
                slot.missing = self._respec(
                    stream, MISSING_PREFIX + slot.name, "missing", slot.missing
                )
            if stream.score is not None:
                stream.score = self._respec(stream, SCORE, "score", stream.score)
            if stream.prediction is not None:
                stream.prediction = self._respec(
                    stream, PREDICTION, "prediction", stream.prediction
                )
            if stream.error is not None:
                stream.error = self._respec(stream, ERROR_RATE, "error", stream.error)

    def _respec(
        self, stream: _Stream, feature: str, ftype: str, current: list[_Watch]
    ) -> list[_Watch]:
        wanted = self._specs.detectors_for(stream.model, feature, ftype)
        if [w.spec for w in current] == list(wanted):
            return current
        for w in current:
            del self._watches[w.id]
        return self._build(stream, feature, ftype, wanted)
