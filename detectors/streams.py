"""The registry's table of streams and detectors, and the limits that bound it.

A *stream* is one sequence of values of one model version: an input feature
(``age``), ``outputs.score``, ``outputs.prediction``, ``missing:<feature>``
(1 when the feature is absent or null) or ``error_rate`` (1 when a joined label
disagrees with the prediction). :class:`StreamTable` creates a stream's
detectors the first time it is seen, from :class:`~detectors.specs.DetectorSpecs`,
within its limits; beyond them nothing is created and the telemetry's
``detectors_refused{limit}`` counts the refusal (once per refused model or feature).

Each detector has a stable id ``<model>/<version>/<stream>/<kind>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from detectors.base import Detector
from detectors.drift.family import join_family
from detectors.drift.reference import pin_from_profile
from detectors.specs import INPUT_OF, DetectorSpec, DetectorSpecs
from detectors.telemetry import DetectorTelemetry

SCORE = "outputs.score"
PREDICTION = "outputs.prediction"
ERROR_RATE = "error_rate"
MISSING_PREFIX = "missing:"

#: Output streams: stream name -> (key in ``outputs``, feature type, numbers only).
OUTPUT_STREAMS: dict[str, tuple[str, str, bool]] = {
    SCORE: ("score", "score", True),
    PREDICTION: ("prediction", "prediction", False),
}
#: Feature type of every stream that is not an input feature.
DERIVED_TYPES: dict[str, str] = {SCORE: "score", PREDICTION: "prediction", ERROR_RATE: "error"}

NUMERIC_TYPES = (int, float)
_MAX_REMEMBERED_REFUSALS = 10_000


@dataclass(slots=True)
class Watch:
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
class FeatureSlot:
    """An input feature of a stream: the detectors of its values and of its missing rate."""

    name: str
    numeric: bool
    values: list[Watch]
    missing: list[Watch]

    @property
    def ftype(self) -> str:
        return "numeric" if self.numeric else "categorical"


@dataclass(slots=True)
class Stream:
    """One model version: its feature slots and its derived streams (outputs, error rate)."""

    model: str
    version: str
    features: dict[str, FeatureSlot] = field(default_factory=dict)
    slots: list[FeatureSlot] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)
    #: derived stream name (``SCORE``, ``PREDICTION``, ``ERROR_RATE``) -> its detectors,
    #: present once the stream was first seen (an empty list when refused at a limit)
    derived: dict[str, list[Watch]] = field(default_factory=dict)
    #: output streams not seen yet: the per-event check is one truth test while any is left
    unseen_outputs: list[str] = field(default_factory=lambda: list(OUTPUT_STREAMS))
    #: time of the latest event, for detectors that measure the stream's rate
    last_ts: float = 0.0

    def clock(self) -> float:
        """Time of this model version's latest event (budgeted detectors measure the rate)."""
        return self.last_ts

    def n_value_watches(self) -> int:
        """Detectors on this model version's values: the family sharing its alarm budget."""
        n = sum(len(slot.values) for slot in self.slots)
        return n + sum(len(self.derived.get(name) or ()) for name in OUTPUT_STREAMS)


class StreamTable:
    """Creates streams and their detectors within the limits of the specs."""

    def __init__(self, specs: DetectorSpecs, metrics: DetectorTelemetry | None) -> None:
        self.specs = specs
        self._metrics = metrics
        self.streams: dict[tuple[str, str], Stream] = {}
        self.watches: dict[str, Watch] = {}
        self._refused_streams: set[tuple[str, str]] = set()

    # -- admission -----------------------------------------------------------------------------

    def stream(self, model: str, version: str) -> Stream | None:
        """The stream of ``(model, version)``, created on first sight; ``None`` past the limit."""
        key = (model, version)
        stream = self.streams.get(key)
        if stream is not None:
            return stream
        if len(self.streams) >= self.specs.limits.max_models:
            if key not in self._refused_streams:
                self._refuse("models")
                if len(self._refused_streams) < _MAX_REMEMBERED_REFUSALS:
                    self._refused_streams.add(key)
            return None
        stream = self.streams[key] = Stream(model, version)
        return stream

    def admit_features(self, stream: Stream, features: Mapping[str, Any]) -> None:
        """Create slots for the features of ``features`` the stream has not seen yet."""
        for name, value in features.items():
            if name in stream.features or name in stream.refused:
                continue
            if value is None:
                continue  # type unknown until a value arrives
            self.admit_feature(stream, name, value)

    def admit_feature(self, stream: Stream, name: str, value: Any) -> FeatureSlot | None:
        """A slot for feature ``name``, typed by ``value``; ``None`` when refused at a limit."""
        if len(stream.features) >= self.specs.limits.max_features_per_model:
            self._refuse_feature(stream, name, "features")
            return None
        numeric = type(value) in NUMERIC_TYPES
        ftype = "numeric" if numeric else "categorical"
        value_specs = self.specs.detectors_for(stream.model, name, ftype)
        missing_specs = self.specs.detectors_for(stream.model, name, "missing")
        needed = len(value_specs) + len(missing_specs)
        if len(self.watches) + needed > self.specs.limits.max_detectors:
            self._refuse_feature(stream, name, "detectors")
            return None
        slot = FeatureSlot(
            name=name,
            numeric=numeric,
            values=self._build(stream, name, ftype, value_specs),
            missing=self._build(stream, MISSING_PREFIX + name, "missing", missing_specs),
        )
        stream.features[name] = slot
        stream.slots.append(slot)
        return slot

    def derived(self, stream: Stream, name: str) -> list[Watch]:
        """The detectors of derived stream ``name``, created on first call."""
        watches = stream.derived.get(name)
        if watches is None:
            ftype = DERIVED_TYPES[name]
            specs = self.specs.detectors_for(stream.model, name, ftype)
            if len(self.watches) + len(specs) > self.specs.limits.max_detectors:
                self._refuse("detectors")
                watches = []
            else:
                watches = self._build(stream, name, ftype, specs)
            stream.derived[name] = watches
            if name in stream.unseen_outputs:
                stream.unseen_outputs.remove(name)
        return watches

    def _refuse(self, limit: str) -> None:
        if self._metrics is not None:
            self._metrics.detectors_refused.labels(limit).inc()

    def _refuse_feature(self, stream: Stream, name: str, limit: str) -> None:
        self._refuse(limit)
        if len(stream.refused) < _MAX_REMEMBERED_REFUSALS:
            stream.refused.add(name)

    def _build(
        self, stream: Stream, feature: str, ftype: str, specs: list[DetectorSpec]
    ) -> list[Watch]:
        watches: list[Watch] = []
        for spec in specs:
            base_id = f"{stream.model}/{stream.version}/{feature}/{spec.kind}"
            wid, n = base_id, 1
            while wid in self.watches:
                n += 1
                wid = f"{base_id}#{n}"
            w = Watch(wid, stream.model, stream.version, feature, ftype, spec, spec.build())
            join_family(w.detector, self.specs.budget, stream.n_value_watches, stream.clock)
            pin_from_profile(w.detector, self.specs.references.get(stream.model), feature)
            self._attach_metrics(w)
            self.watches[wid] = w
            watches.append(w)
        self._count_active()
        return watches

    def _attach_metrics(self, w: Watch) -> None:
        m = self._metrics
        if m is None:
            return
        labels = (m.model_label(w.model), m.feature_label(w.feature), w.spec.kind)
        w.counter = m.drift_detected.labels(*labels)
        w.gauge = m.drift_statistic.labels(*labels)

    def _count_active(self) -> None:
        if self._metrics is not None:
            self._metrics.detectors_active.set(len(self.watches))

    # -- checkpoints ---------------------------------------------------------------------------

    def create_for_record(self, detector_id: str, record: Mapping[str, Any]) -> Watch | None:
        """Create the stream a checkpoint record belongs to; its detector, if now present."""
        model, version = str(record["model"]), str(record["version"])
        feature, ftype = str(record["feature"]), str(record["type"])
        if ftype not in INPUT_OF:
            return None
        stream = self.stream(model, version)
        if stream is None:
            return None
        if ftype in ("numeric", "categorical", "missing"):
            name = feature.removeprefix(MISSING_PREFIX) if ftype == "missing" else feature
            if name not in stream.features:
                # Records are exported in creation order, so a feature's value
                # detector comes before its missing-rate detector and fixes its type.
                self.admit_feature(stream, name, "" if ftype == "categorical" else 0.0)
        elif DERIVED_TYPES.get(feature) == ftype:
            self.derived(stream, feature)
        return self.watches.get(detector_id)

    def drop_model(self, model: str) -> int:
        """Forget every stream and detector of ``model``; return how many detectors went."""
        dropped = [wid for wid, w in self.watches.items() if w.model == model]
        for wid in dropped:
            del self.watches[wid]
        for key in [k for k in self.streams if k[0] == model]:
            del self.streams[key]
        self._refused_streams = {k for k in self._refused_streams if k[0] != model}
        self._count_active()
        return len(dropped)

    # -- live config ---------------------------------------------------------------------------

    def replace_specs(self, specs: DetectorSpecs) -> None:
        """Rebuild the detectors whose resolved spec list changed; keep the others."""
        before, budget = self.specs.references, self.specs.budget
        self.specs = specs
        if specs.references != before:
            for w in self.watches.values():
                pin_from_profile(w.detector, specs.references.get(w.model), w.feature)
        if specs.budget != budget:  # budgeted detectors recalibrate at their next test
            for w in self.watches.values():
                stream = self.streams.get((w.model, w.version))
                if stream is not None:
                    join_family(w.detector, specs.budget, stream.n_value_watches, stream.clock)
        for stream in self.streams.values():
            for slot in stream.slots:
                slot.values = self._respec(stream, slot.name, slot.ftype, slot.values)
                slot.missing = self._respec(
                    stream, MISSING_PREFIX + slot.name, "missing", slot.missing
                )
            for name, ftype in DERIVED_TYPES.items():
                watches = stream.derived.get(name)
                if watches is not None:
                    stream.derived[name] = self._respec(stream, name, ftype, watches)

    def _respec(
        self, stream: Stream, feature: str, ftype: str, current: list[Watch]
    ) -> list[Watch]:
        wanted = self.specs.detectors_for(stream.model, feature, ftype)
        if [w.spec for w in current] == list(wanted):
            return current
        for w in current:
            del self.watches[w.id]
        return self._build(stream, feature, ftype, wanted)
