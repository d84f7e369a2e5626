"""Streaming performance estimation: CBPE estimates and realized values per model version.

One :class:`PerformanceMonitor` serves every model of a worker. Each (model,
version) with scores gets a :class:`~detectors.performance.window.ScoreWindow`;
every ``evaluate_every.events`` scored events, every ``evaluate_every.labels``
joined labels and on the periodic :meth:`PerformanceMonitor.tick` after labels
joined, it calibrates the window's scores, estimates accuracy, precision,
recall, F1 and ROC AUC (:mod:`detectors.performance.cbpe`), computes the same
metrics on the joined labels, exports both and runs a breach/clear hysteresis
on the estimates against the model's thresholds. With ``segments`` configured,
each binary model version also keeps a window per segment
(:mod:`detectors.performance.segments`), evaluated and judged on their own
schedule (``evaluate_every`` of their own events and labels).

Bad input never raises: a score that is missing, not a number or outside
[0, 1] is counted (``excluded``) and left out.
"""

from __future__ import annotations

import fnmatch
import math
import time
from collections.abc import Iterable, Mapping
from statistics import NormalDist
from typing import Any

from detectors.drift.segments import Segmenter
from detectors.performance import cbpe
from detectors.performance.config import PerformanceConfig
from detectors.performance.exporter import PerformanceExporter, PerformanceTelemetry
from detectors.performance.regression import NO_ESTIMATE, RegressionWindow
from detectors.performance.segments import ALL, Segment, SegmentWindows
from detectors.performance.slot import Slot, export_slot, restore_slot, task_of
from detectors.performance.verdicts import Hysteresis, dump, judge
from detectors.performance.window import ScoreWindow
from detectors.results import PerformanceResult

STATE_VERSION = 1
_SEP = "|"
_NUMBERS = (int, float)


class PerformanceMonitor:
    """CBPE estimates, realized values and threshold verdicts over sliding windows.

    Examples
    --------
    >>> import numpy as np
    >>> cfg = PerformanceConfig.from_mapping({"models": [{"model": "credit-*", "window": 1000}]})
    >>> monitor = PerformanceMonitor(cfg)
    >>> rng = np.random.default_rng(1)
    >>> for i in range(1000):
    ...     s = float(rng.random())
    ...     _ = monitor.observe("credit-risk", "1", {"score": s, "prediction": int(s >= 0.5)},
    ...                         event_id=f"e{i}", ts=float(i))
    >>> view = monitor.snapshot("credit-risk")
    >>> round(view["estimated"]["accuracy"]["value"], 2), view["calibration"]["method"]
    (0.75, 'identity')
    """

    def __init__(
        self, config: PerformanceConfig, metrics: PerformanceTelemetry | None = None
    ) -> None:
        self.config = config
        self._export = PerformanceExporter(metrics)
        self._slots: dict[tuple[str, str], Slot] = {}
        self._latest: dict[str, str] = {}  # model -> latest version seen
        self._segmenter = Segmenter(lambda: self.config.segments)
        self._segment_windows = 0  # segment windows held (they count towards max_windows)
        #: clears of breaches a config change dropped, handed out by the next tick
        self._released: list[PerformanceResult] = []

    # ------------------------------------------------------------------ input
    @property
    def idle(self) -> bool:
        """No model configured and no window held: :meth:`observe` would do nothing."""
        return not self.config.models and not self._slots

    def _slot(self, model: str, version: str) -> Slot | None:
        key = (model, version)
        slot = self._slots.get(key)
        if slot is not None:
            return slot
        cfg = self.config.for_model(model)
        if cfg is None:
            return None
        if not self._room():
            return None
        slot = Slot(model, version, cfg, ScoreWindow(cfg.window, cfg.calibration.max_pairs))
        self._slots[key] = slot
        return slot

    def _room(self) -> bool:
        """Whether one more window fits under ``max_windows`` (a refusal is counted)."""
        if len(self._slots) + self._segment_windows < self.config.max_windows:
            return True
        self._export.refused_window()
        return False

    def observe(
        self,
        model: str,
        version: str,
        outputs: Mapping[str, Any],
        event_id: str,
        ts: float | None = None,
        event: Mapping[str, Any] | None = None,
    ) -> list[PerformanceResult]:
        """Add one prediction; evaluate its window when ``evaluate_every.events`` is due.

        ``event`` (the sanitized event) gives the segments' values; without it
        the event enters its version's window only.
        """
        slot = self._slot(model, version)
        if slot is None:
            return []
        self._latest[model] = version
        if slot.task is None:
            slot.task = task_of(slot.config, outputs)
            if slot.task == "regression":
                slot.regression = RegressionWindow(slot.config.window)
        if slot.regression is not None:
            return self._observe_regression(slot, outputs, event_id, ts)
        score = outputs.get("score")
        if score is None or type(score) not in _NUMBERS:
            if score is None and not len(slot.window) and not slot.window.excluded["out_of_range"]:
                return []  # a model that sends no scores is not estimated, not "bad input"
            return self._exclude(slot, "missing")
        if not 0.0 <= score <= 1.0:  # NaN fails too
            return self._exclude(slot, "out_of_range")
        cfg = slot.config
        predicted = cfg.prediction(outputs.get("prediction"), score)
        at = time.time() if ts is None else ts
        slot.window.add(event_id, float(score), predicted, at)
        results: list[PerformanceResult] = []
        if event is not None and self.config.segments:
            results += self._add_to_segments(slot, event, event_id, float(score), predicted, at)
        if slot.window.since_eval >= cfg.evaluate_every.events:
            results += self._evaluate(slot)
        return results

    def _add_to_segments(
        self,
        slot: Slot,
        event: Mapping[str, Any],
        event_id: str,
        score: float,
        predicted: int,
        ts: float,
    ) -> list[PerformanceResult]:
        if slot.segments is None:
            slot.segments = SegmentWindows(slot.config.window)
        segments, every = slot.segments, slot.config.evaluate_every.events
        results: list[PerformanceResult] = []
        for spec, label in self._segmenter.assign(event, slot.model):
            name = f"{spec.by}={label}"
            known = name in segments.segments
            segment = segments.add(name, event_id, score, predicted, ts, known or self._room())
            if segment is None:
                continue
            self._segment_windows += not known
            if segment.window.since_eval >= every:
                results += self._evaluate_segment(slot, name, segment)
        return results

    def _observe_regression(
        self, slot: Slot, outputs: Mapping[str, Any], event_id: str, ts: float | None
    ) -> list[PerformanceResult]:
        assert slot.regression is not None
        prediction = outputs.get("prediction")
        if type(prediction) not in _NUMBERS or not math.isfinite(prediction):  # type: ignore[arg-type]
            return self._exclude(slot, "missing")
        slot.regression.add(event_id, float(prediction), time.time() if ts is None else ts)  # type: ignore[arg-type]
        if slot.regression.since_eval >= slot.config.evaluate_every.events:
            self._evaluate(slot)
        return []

    def _exclude(self, slot: Slot, reason: str) -> list[PerformanceResult]:
        window = slot.regression if slot.regression is not None else slot.window
        window.excluded[reason] += 1
        self._export.excluded(slot.model, reason)
        return []

    def join_label(
        self, event_id: str, label: object, model: str, version: str
    ) -> list[PerformanceResult]:
        """Join a ground-truth label; evaluate when ``evaluate_every.labels`` is due."""
        slot = self._slots.get((model, version))
        if slot is None:
            return []
        cfg = slot.config
        if slot.regression is not None:
            if slot.regression.add_label(event_id, label):
                if slot.regression.labels_since_eval >= cfg.evaluate_every.labels:
                    self._evaluate(slot)
            return []
        positive = cfg.label(label)
        if not slot.window.add_label(event_id, positive):
            return []
        if slot.window.since_fit >= cfg.calibration.refit_every or (
            slot.window.calibrator.method == "identity"
            and len(slot.window.pairs) >= cfg.calibration.min_labels
        ):
            slot.window.refit(slot.config.calibration)
        results: list[PerformanceResult] = []
        for name, segment in slot.segments.add_label(event_id, positive) if slot.segments else ():
            if segment.window.labels_since_eval >= cfg.evaluate_every.labels:
                results += self._evaluate_segment(slot, name, segment)
        if slot.window.labels_since_eval >= cfg.evaluate_every.labels:
            results += self._evaluate(slot)
        return results

    def tick(self) -> list[PerformanceResult]:
        """Evaluate windows that joined labels since their last evaluation.

        Call periodically on the wall clock: labels of a nightly batch arrive
        when no event moves the event clock.
        """
        results, self._released = self._released, []
        for slot in list(self._slots.values()):
            for name, segment in slot.segments or ():
                if segment.window.labels_since_eval:
                    results += self._evaluate_segment(slot, name, segment)
            if slot.due()[1]:
                results += self._evaluate(slot)
        return results

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, slot: Slot, scheduled: bool = True) -> list[PerformanceResult]:
        """Evaluate a version's window; only a ``scheduled`` evaluation moves the schedule
        and the breach/clear hysteresis (an API read must not: its results would have
        nowhere to go, and reads would set the pace of ``breach_after``)."""
        cfg, window = slot.config, slot.window
        z = NormalDist().inv_cdf(0.5 + cfg.confidence / 2)
        if slot.regression is not None:
            self._evaluate_regression(slot, z, scheduled)
            return []
        if scheduled:
            window.since_eval = window.labels_since_eval = 0
        estimated, realized, labelled = window.evaluate(window.calibrator, z)
        slot.view = {
            "window": {
                "size": cfg.window,
                "events": len(window),
                "labelled": labelled,
                "excluded": dict(window.excluded),
                "latest_event_at": window.last_ts if math.isfinite(window.last_ts) else None,
            },
            "estimated": {m: e.as_dict() for m, e in estimated.items()},
            "realized": {m: e.as_dict() for m, e in realized.items()},
            "task": "binary",
            "calibration": slot.window.calibration_view(slot.config.calibration),
            "thresholds": dict(cfg.thresholds),
        }
        if slot.hysteresis is None:
            slot.hysteresis = {}
        results: list[PerformanceResult] = []
        if scheduled:
            results += self._verdicts(slot, ALL, slot.hysteresis, estimated, len(window))
        self._export.evaluation(slot.model, slot.version, ALL, estimated, realized, slot.hysteresis)
        return results

    def _evaluate_segment(
        self, slot: Slot, name: str, segment: Segment, scheduled: bool = True
    ) -> list[PerformanceResult]:
        z = NormalDist().inv_cdf(0.5 + slot.config.confidence / 2)
        calibrator = slot.window.calibrator  # the version's: fitted on all its labels
        estimated, realized = SegmentWindows.evaluate(segment, calibrator, z, scheduled)
        results: list[PerformanceResult] = []
        if scheduled:
            n = len(segment.window)
            results += self._verdicts(slot, name, segment.hysteresis, estimated, n)
        self._export.evaluation(
            slot.model, slot.version, name, estimated, realized, segment.hysteresis
        )
        return results

    def _evaluate_regression(self, slot: Slot, z: float, scheduled: bool) -> None:
        window = slot.regression
        assert window is not None
        if scheduled:
            window.since_eval = window.labels_since_eval = 0
        realized, labelled = window.realized(z)
        slot.view = {
            "window": {
                "size": slot.config.window,
                "events": len(window),
                "labelled": labelled,
                "excluded": dict(window.excluded),
                "latest_event_at": window.last_ts if math.isfinite(window.last_ts) else None,
            },
            "task": "regression",
            "estimated": {m: cbpe.Estimate(None, reason=NO_ESTIMATE).as_dict() for m in realized},
            "realized": {m: e.as_dict() for m, e in realized.items()},
            "calibration": {"method": "none", "note": "regression: scores are not used"},
            "thresholds": {},
        }
        self._export.evaluation(slot.model, slot.version, ALL, {}, realized, None)

    def _verdicts(
        self,
        slot: Slot,
        segment: str,
        hysteresis: dict[str, Hysteresis],
        estimated: Mapping[str, cbpe.Estimate],
        n: int,
    ) -> list[PerformanceResult]:
        changed = judge(slot.config, hysteresis, estimated, n)
        if not changed:
            return []
        at = slot.window.last_ts if math.isfinite(slot.window.last_ts) else time.time()
        return [
            PerformanceResult(
                slot.model, slot.version, metric, value, threshold, state, at, n, segment
            )
            for metric, state, value, threshold in changed
        ]

    # ------------------------------------------------------------------ API views
    @property
    def models(self) -> list[str]:
        return sorted({model for model, _ in self._slots})

    def versions(self, model: str) -> list[str]:
        return sorted(version for name, version in self._slots if name == model)

    def snapshot(self, model: str, version: str | None = None) -> dict[str, Any] | None:
        """The last evaluation of one model version (default: the latest seen), or ``None``."""
        version = self._latest.get(model) if version is None else version
        slot = self._slots.get((model, version or ""))
        if slot is None:
            return None
        if slot.view is None or any(slot.due()):
            self._evaluate(slot, scheduled=False)  # what the window holds now, not a stale past
        for name, segment in slot.segments or ():
            w = segment.window
            if segment.view is None or w.since_eval or w.labels_since_eval:
                self._evaluate_segment(slot, name, segment, scheduled=False)
        assert slot.view is not None
        live = slot.regression if slot.regression is not None else slot.window
        slot.view["window"]["excluded"] = dict(live.excluded)  # bad labels move no schedule
        return {
            "model": model,
            "version": slot.version,
            "versions": self.versions(model),
            **slot.view,
            "alerts": dump(slot.hysteresis),
            "segments": slot.segments.views() if slot.segments else {},
        }

    # ------------------------------------------------------------------ state
    def export_state(self, models: Iterable[str] | None = None) -> dict[str, Any]:
        """JSON checkpoint of every window (or of ``models``' windows), calibrators included."""
        wanted = None if models is None else set(models)
        return {
            "version": STATE_VERSION,
            "windows": {
                f"{s.model}{_SEP}{s.version}": export_slot(s)
                for s in self._slots.values()
                if wanted is None or s.model in wanted
            },
        }

    def import_state(self, state: Mapping[str, Any]) -> list[str]:
        """Restore a checkpoint under the current config; return the keys refused.

        Segments restore while their ``by`` is still configured for the model,
        and keep their own segment (the segmenter admits their values again).
        """
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported performance state version {state.get('version')!r}")
        refused: list[str] = []
        for key, saved in state.get("windows", {}).items():
            model, _, version = str(key).partition(_SEP)
            cfg = self.config.for_model(model)
            specs = {s.by: s for s in self.config.segments if fnmatch.fnmatchcase(model, s.model)}
            slot = None if cfg is None else restore_slot(model, version, cfg, saved, specs)
            if slot is None:
                refused.append(key)
                continue
            old = self._slots.get((model, version))
            self._segment_windows -= len(old.segments or ()) if old else 0
            self._slots[(model, version)] = slot
            self._latest.setdefault(model, version)
            self._export.breached(model, version, ALL, slot.hysteresis)
            for name, segment in slot.segments or ():
                self._segment_windows += 1
                by, _, value = name.partition("=")
                self._segmenter.admit(model, specs[by], value)
                self._export.breached(model, version, name, segment.hysteresis)
        return refused

    def replace_config(self, config: PerformanceConfig) -> None:
        """Apply a new config, keeping windows (and calibrators) of models still covered.

        A decision the new config no longer makes (its threshold, segment or model
        is gone) has its series removed, and a held breach is released: the next
        :meth:`tick` hands out its ``clear``, so no alert stays firing for it.
        """
        saved, before = self.export_state(), self._decisions()
        self.config = config
        self._slots, self._latest, self._segment_windows = {}, {}, 0
        self._segmenter = Segmenter(lambda: self.config.segments)
        self.import_state(saved)
        kept, now = self._decisions(), time.time()
        for (model, version, segment, metric), state in before.items():
            if (model, version, segment, metric) in kept:
                continue
            self._export.forget(model, version, segment, (metric,))
            if state == "breach":
                self._released.append(
                    PerformanceResult(
                        model, version, metric, math.nan, math.nan, "clear", now, 0, segment
                    )
                )

    def _decisions(self) -> dict[tuple[str, str, str, str], str]:
        """(model, version, segment, metric) -> state of every threshold decision held."""
        out: dict[tuple[str, str, str, str], str] = {}
        for slot in self._slots.values():
            for metric, hyst in (slot.hysteresis or {}).items():
                out[(slot.model, slot.version, ALL, metric)] = hyst.state
            for name, segment in slot.segments or ():
                for metric, hyst in segment.hysteresis.items():
                    out[(slot.model, slot.version, name, metric)] = hyst.state
        return out

    def drop_model(self, model: str) -> bool:
        """Forget one model's windows (its partition moved to another replica); True if known."""
        keys = [k for k in self._slots if k[0] == model]
        for key in keys:
            slot = self._slots.pop(key)
            self._export.forget(model, slot.version, ALL, slot.hysteresis or ())
            for name, segment in slot.segments or ():
                self._segment_windows -= 1
                self._export.forget(model, slot.version, name, segment.hysteresis)
        self._latest.pop(model, None)
        return bool(keys)
