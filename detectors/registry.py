"""The detector registry: creates and feeds detectors per (model, version, stream).

The facade the service and the control plane use. What exists and within which
limits is :class:`~detectors.streams.StreamTable`'s job; how values reach the
detectors, :class:`~detectors.feeding.Feeder`'s (one path, for one event or a
batch). The registry adds the control-plane views (list, get, patch params,
reset) and checkpoints (export and import state), both keyed by each detector's
stable id ``<model>/<version>/<stream>/<kind>``.

Hot path: one dict lookup per event for the model version, one subset test of
the feature names, then one ``Detector.feed`` per detector over the batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from detectors import river_compat
from detectors.base import DetectorStateError
from detectors.feeding import Event, Feeder
from detectors.results import DriftResult
from detectors.specs import DetectorSpecs
from detectors.streams import (
    ERROR_RATE,
    MISSING_PREFIX,
    PREDICTION,
    SCORE,
    StreamTable,
    Watch,
)
from detectors.telemetry import DetectorTelemetry

__all__ = [
    "ERROR_RATE",
    "MISSING_PREFIX",
    "PREDICTION",
    "SCORE",
    "DetectorInfo",
    "DetectorRegistry",
    "ImportReport",
    "UnknownDetectorError",
]


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
        river_compat.check_river()
        self._table = StreamTable(specs, metrics)
        self._feeder = Feeder(self._table)
        # The table's dicts, under the names diagnostics (load_tests/bench_memory) read.
        self._streams = self._table.streams
        self._watches = self._table.watches

    @property
    def specs(self) -> DetectorSpecs:
        return self._table.specs

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
        return self._feeder.feed_events(((model, version, features, outputs, ts),))

    def observe_batch(self, events: Sequence[Event]) -> list[DriftResult]:
        """:meth:`observe` for many events, each detector fed its run of values in one call.

        ``events`` are ``(model, version, features, outputs, ts)`` in stream order.
        Streams and detectors are admitted (or refused at a limit) in event order,
        exactly as per-event :meth:`observe` would, and each detector learns the
        same values in the same order; only the order of the returned results
        differs (per detector, not per event).
        """
        return self._feeder.feed_events(events)

    def observe_outcome(
        self, model: str, version: str, error: bool, ts: float
    ) -> list[DriftResult]:
        """Feed whether a labelled prediction was wrong (concept drift on the error rate)."""
        stream = self._table.stream(model, version)
        if stream is None:
            return []
        results: list[DriftResult] = []
        self._feeder.feed(self._table.derived(stream, ERROR_RATE), [error], [ts], results)
        return results

    # -- control plane -------------------------------------------------------------------------

    def _watch(self, detector_id: str) -> Watch:
        try:
            return self._watches[detector_id]
        except KeyError:
            raise UnknownDetectorError(detector_id) from None

    @staticmethod
    def _info(w: Watch) -> DetectorInfo:
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
        return self._table.drop_model(model)

    def import_state(self, records: Mapping[str, Mapping[str, Any]]) -> ImportReport:
        """Restore checkpoint records, creating their detectors if this replica lacks them.

        A record is refused (and reported) when its detector cannot be created
        within the limits, its params do not validate or its state is malformed.
        """
        restored: list[str] = []
        refused: dict[str, str] = {}
        for detector_id, record in records.items():
            try:
                w = self._watches.get(detector_id) or self._table.create_for_record(
                    detector_id, record
                )
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

    # -- live config ---------------------------------------------------------------------------

    def replace_specs(self, specs: DetectorSpecs) -> None:
        """Apply new specs live.

        Streams whose resolved detector list is unchanged keep their detectors
        (state and patched params included); the others get fresh detectors.
        New limits apply to what is created from now on.
        """
        self._table.replace_specs(specs)
