"""Streaming performance estimation: CBPE estimates and realized values per model version.

One :class:`PerformanceMonitor` serves every model of a worker. Each (model,
version) with scores gets a :class:`~detectors.performance.window.ScoreWindow`;
every ``evaluate_every.events`` scored events, every ``evaluate_every.labels``
joined labels and on the periodic :meth:`PerformanceMonitor.tick` after labels
joined, it calibrates the window's scores, estimates accuracy, precision,
recall, F1 and ROC AUC (:mod:`detectors.performance.cbpe`), computes the same
metrics on the joined labels, exports both and runs a breach/clear hysteresis
on the estimates against the model's thresholds.

Bad input never raises: a score that is missing, not a number or outside
[0, 1] is counted (``excluded``) and left out.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any, Literal, Protocol

from detectors.performance import cbpe
from detectors.performance.config import ModelPerformanceConfig, PerformanceConfig
from detectors.performance.regression import METRICS as REGRESSION_METRICS
from detectors.performance.regression import NO_ESTIMATE, RegressionWindow
from detectors.performance.window import NO_LABEL, ScoreWindow
from detectors.results import PerformanceResult
from detectors.telemetry import LabelledMetric

STATE_VERSION = 1
_SEP = "|"
_NUMBERS = (int, float)


class PerformanceTelemetry(Protocol):
    """The metrics the monitor exports (``service.metrics.GuardianMetrics`` has them)."""

    @property
    def model_label(self) -> Any: ...

    @property
    def version_label(self) -> Any: ...

    @property
    def performance_estimated(self) -> LabelledMetric: ...

    @property
    def performance_realized(self) -> LabelledMetric: ...

    @property
    def performance_breached(self) -> LabelledMetric: ...

    @property
    def performance_excluded(self) -> LabelledMetric: ...

    @property
    def detectors_refused(self) -> LabelledMetric: ...


@dataclass(slots=True)
class _Hysteresis:
    state: Literal["ok", "breach"] = "ok"
    breach_run: int = 0
    clear_run: int = 0


@dataclass(slots=True)
class _Slot:
    model: str
    version: str
    config: ModelPerformanceConfig
    window: ScoreWindow
    view: dict[str, Any] | None = None
    hysteresis: dict[str, _Hysteresis] | None = None
    #: set for a regression model (realized MAE and RMSE only)
    regression: RegressionWindow | None = None
    task: str | None = None  # "binary" or "regression" once decided

    def due(self) -> tuple[int, int]:
        """Events and labels since the last evaluation, of whichever window is in use."""
        w = self.regression if self.regression is not None else self.window
        return w.since_eval, w.labels_since_eval


def _number(value: float | None) -> float:
    return math.nan if value is None else value


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
        self._metrics = metrics
        self._slots: dict[tuple[str, str], _Slot] = {}
        self._latest: dict[str, str] = {}  # model -> latest version seen

    # ------------------------------------------------------------------ input
    def _slot(self, model: str, version: str) -> _Slot | None:
        key = (model, version)
        slot = self._slots.get(key)
        if slot is not None:
            return slot
        cfg = self.config.for_model(model)
        if cfg is None:
            return None
        if len(self._slots) >= self.config.max_windows:
            if self._metrics is not None:
                self._metrics.detectors_refused.labels("performance_windows").inc()
            return None
        slot = _Slot(model, version, cfg, ScoreWindow(cfg.window, cfg.calibration.max_pairs))
        self._slots[key] = slot
        return slot

    def observe(
        self,
        model: str,
        version: str,
        outputs: Mapping[str, Any],
        event_id: str,
        ts: float | None = None,
    ) -> list[PerformanceResult]:
        """Add one prediction; evaluate its window when ``evaluate_every.events`` is due."""
        slot = self._slot(model, version)
        if slot is None:
            return []
        self._latest[model] = version
        if slot.task is None:
            slot.task = _task(slot.config, outputs)
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
        slot.window.add(
            event_id,
            float(score),
            cfg.prediction(outputs.get("prediction"), score),
            time.time() if ts is None else ts,
        )
        if slot.window.since_eval >= cfg.evaluate_every.events:
            return self._evaluate(slot)
        return []

    def _observe_regression(
        self, slot: _Slot, outputs: Mapping[str, Any], event_id: str, ts: float | None
    ) -> list[PerformanceResult]:
        assert slot.regression is not None
        prediction = outputs.get("prediction")
        if type(prediction) not in _NUMBERS or not math.isfinite(prediction):  # type: ignore[arg-type]
            return self._exclude(slot, "missing")
        slot.regression.add(event_id, float(prediction), time.time() if ts is None else ts)  # type: ignore[arg-type]
        if slot.regression.since_eval >= slot.config.evaluate_every.events:
            self._evaluate(slot)
        return []

    def _exclude(self, slot: _Slot, reason: str) -> list[PerformanceResult]:
        window = slot.regression if slot.regression is not None else slot.window
        window.excluded[reason] += 1
        m = self._metrics
        if m is not None:
            m.performance_excluded.labels(m.model_label(slot.model), reason).inc()
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
        if not slot.window.add_label(event_id, cfg.label(label)):
            return []
        if slot.window.since_fit >= cfg.calibration.refit_every or (
            slot.window.calibrator.method == "identity"
            and len(slot.window.pairs) >= cfg.calibration.min_labels
        ):
            slot.window.refit(slot.config.calibration)
        if slot.window.labels_since_eval >= cfg.evaluate_every.labels:
            return self._evaluate(slot)
        return []

    def tick(self) -> list[PerformanceResult]:
        """Evaluate windows that joined labels since their last evaluation.

        Call periodically on the wall clock: labels of a nightly batch arrive
        when no event moves the event clock.
        """
        results: list[PerformanceResult] = []
        for slot in list(self._slots.values()):
            if slot.due()[1]:
                results += self._evaluate(slot)
        return results

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, slot: _Slot) -> list[PerformanceResult]:
        cfg, window = slot.config, slot.window
        z = NormalDist().inv_cdf(0.5 + cfg.confidence / 2)
        if slot.regression is not None:
            self._evaluate_regression(slot, z)
            return []
        window.since_eval = window.labels_since_eval = 0
        raw, predicted, labels = window.arrays()
        estimated = cbpe.estimate(window.calibrator.apply(raw), raw, predicted, z)
        known = labels != NO_LABEL
        realized = cbpe.realized(labels[known] == 1, predicted[known], raw[known], z)
        slot.view = {
            "window": {
                "size": cfg.window,
                "events": len(window),
                "labelled": int(known.sum()),
                "excluded": dict(window.excluded),
                "latest_event_at": window.last_ts if math.isfinite(window.last_ts) else None,
            },
            "estimated": {m: e.as_dict() for m, e in estimated.items()},
            "realized": {m: e.as_dict() for m, e in realized.items()},
            "task": "binary",
            "calibration": slot.window.calibration_view(slot.config.calibration),
            "thresholds": dict(cfg.thresholds),
        }
        results = self._verdicts(slot, estimated, len(window))
        self._export(slot, estimated, realized)
        return results

    def _evaluate_regression(self, slot: _Slot, z: float) -> None:
        window = slot.regression
        assert window is not None
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
        m = self._metrics
        if m is not None:
            model_l, version_l = m.model_label(slot.model), m.version_label(slot.version)
            for metric in REGRESSION_METRICS:
                value = _number(realized[metric].value)
                m.performance_realized.labels(model_l, version_l, metric).set(value)

    def _verdicts(
        self, slot: _Slot, estimated: Mapping[str, cbpe.Estimate], n: int
    ) -> list[PerformanceResult]:
        cfg = slot.config
        if slot.hysteresis is None:
            slot.hysteresis = {}
        results: list[PerformanceResult] = []
        for metric, threshold in cfg.thresholds.items():
            est = estimated[metric]
            hyst = slot.hysteresis.setdefault(metric, _Hysteresis())
            if est.value is None or est.upper is None or n < cfg.min_events:
                hyst.breach_run = hyst.clear_run = 0
                continue
            if est.upper < threshold:  # below even at the favourable end of the interval
                hyst.breach_run, hyst.clear_run = hyst.breach_run + 1, 0
            elif est.value >= threshold + cfg.clear_margin:
                hyst.breach_run, hyst.clear_run = 0, hyst.clear_run + 1
            else:
                hyst.breach_run = hyst.clear_run = 0
            state: Literal["breach", "clear"] | None = None
            if hyst.state == "ok" and hyst.breach_run >= cfg.breach_after:
                hyst.state = state = "breach"
            elif hyst.state == "breach" and hyst.clear_run >= cfg.clear_after:
                hyst.state, state = "ok", "clear"
            if state is not None:
                at = slot.window.last_ts if math.isfinite(slot.window.last_ts) else time.time()
                results.append(
                    PerformanceResult(
                        slot.model, slot.version, metric, est.value, threshold, state, at, n
                    )
                )
        return results

    def _export(
        self,
        slot: _Slot,
        estimated: Mapping[str, cbpe.Estimate],
        realized: Mapping[str, cbpe.Estimate],
    ) -> None:
        m = self._metrics
        if m is None:
            return
        model_l, version_l = m.model_label(slot.model), m.version_label(slot.version)
        for metric in cbpe.METRICS:
            labels = (model_l, version_l, metric)
            m.performance_estimated.labels(*labels).set(_number(estimated[metric].value))
            m.performance_realized.labels(*labels).set(_number(realized[metric].value))
        for metric, hyst in (slot.hysteresis or {}).items():
            breached = 1 if hyst.state == "breach" else 0
            m.performance_breached.labels(model_l, version_l, metric).set(breached)

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
            self._evaluate(slot)  # a view of what the window holds now, not of a stale past
        assert slot.view is not None
        live = slot.regression if slot.regression is not None else slot.window
        slot.view["window"]["excluded"] = dict(live.excluded)  # bad labels move no schedule
        hysteresis = {k: asdict(h) for k, h in (slot.hysteresis or {}).items()}
        return {
            "model": model,
            "version": slot.version,
            "versions": self.versions(model),
            **slot.view,
            "alerts": hysteresis,
        }

    # ------------------------------------------------------------------ state
    def export_state(self, models: Iterable[str] | None = None) -> dict[str, Any]:
        """JSON checkpoint of every window (or of ``models``' windows), calibrators included."""
        wanted = None if models is None else set(models)
        return {
            "version": STATE_VERSION,
            "windows": {
                f"{s.model}{_SEP}{s.version}": {
                    "task": s.task,
                    "window": s.window.export_state(),
                    **({"regression": s.regression.export_state()} if s.regression else {}),
                    "hysteresis": {k: asdict(h) for k, h in (s.hysteresis or {}).items()},
                }
                for s in self._slots.values()
                if wanted is None or s.model in wanted
            },
        }

    def import_state(self, state: Mapping[str, Any]) -> list[str]:
        """Restore a checkpoint under the current config; return the keys refused."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported performance state version {state.get('version')!r}")
        refused: list[str] = []
        for key, saved in state.get("windows", {}).items():
            model, _, version = str(key).partition(_SEP)
            cfg = self.config.for_model(model)
            if cfg is None:
                refused.append(key)
                continue
            try:
                window = ScoreWindow.from_state(
                    cfg.window, cfg.calibration.max_pairs, saved["window"]
                )
                hysteresis = {
                    metric: _Hysteresis(h["state"], int(h["breach_run"]), int(h["clear_run"]))
                    for metric, h in saved.get("hysteresis", {}).items()
                    if metric in cfg.thresholds and h.get("state") in ("ok", "breach")
                }
                regression = (
                    RegressionWindow.from_state(cfg.window, saved["regression"])
                    if "regression" in saved
                    else None
                )
            except (KeyError, TypeError, ValueError):
                refused.append(key)
                continue
            slot = _Slot(model, version, cfg, window, None, hysteresis, regression)
            task = saved.get("task")
            slot.task = task if task in ("binary", "regression") else None
            if slot.task == "regression" and regression is None:
                slot.regression = RegressionWindow(cfg.window)
            self._slots[(model, version)] = slot
            self._latest.setdefault(model, version)
            self._export_breached(slot)
        return refused

    def _export_breached(self, slot: _Slot) -> None:
        m = self._metrics
        if m is None:
            return
        model_l, version_l = m.model_label(slot.model), m.version_label(slot.version)
        for metric, hyst in (slot.hysteresis or {}).items():
            breached = 1 if hyst.state == "breach" else 0
            m.performance_breached.labels(model_l, version_l, metric).set(breached)

    def replace_config(self, config: PerformanceConfig) -> None:
        """Apply a new config, keeping windows (and calibrators) of models still covered."""
        saved = self.export_state()
        self.config = config
        self._slots, self._latest = {}, {}
        self.import_state(saved)

    def drop_model(self, model: str) -> bool:
        """Forget one model's windows (its partition moved to another replica); True if known."""
        keys = [k for k in self._slots if k[0] == model]
        m = self._metrics
        for key in keys:
            slot = self._slots.pop(key)
            if m is not None:
                model_l, version_l = m.model_label(slot.model), m.version_label(slot.version)
                for metric in slot.hysteresis or {}:
                    with contextlib.suppress(KeyError):
                        m.performance_breached.remove(model_l, version_l, metric)
        self._latest.pop(model, None)
        return bool(keys)


def _task(cfg: ModelPerformanceConfig, outputs: Mapping[str, Any]) -> str:
    """Binary or regression, from the config or (``auto``) from the first event's outputs."""
    if cfg.task != "auto":
        return cfg.task
    score, prediction = outputs.get("score"), outputs.get("prediction")
    if score is None and type(prediction) is float:
        return "regression"
    return "binary"
