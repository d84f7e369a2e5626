"""Streaming fairness monitor: windows per model, Fairlearn metrics, confident verdicts.

One :class:`FairnessMonitor` serves every model of a worker (Kafka keys events
by model name, so a worker owns whole models). Each model gets a sliding
:class:`~detectors.fairness.window.FairnessWindow`; every few events (or
seconds) the monitor computes each configured metric per protected attribute,
exports it, and runs a breach/clear hysteresis on *confident* evidence.

Verdict rule (see :func:`detectors.fairness.metrics.assess`): a group votes only
with ``min_group_size`` events in the rate's denominator; the metric counts as
breached when it is past the threshold even at the favourable ends of the
per-group Wilson intervals (for the four-fifths rule: the *upper* bound of the
lowest group's selection rate divided by the *lower* bound of the highest is
still below 0.8). ``breach_after`` consecutive breach evaluations declare a
breach; ``clear_after`` consecutive "within" evaluations clear it, where
"within" means the metric over the eligible groups is back inside its threshold
(``clear_on: estimate``, default) or inside it even at the unfavourable interval
ends (``clear_on: confident``). Anything else (inconclusive, too few eligible
groups) resets both runs.

The exported value is always Fairlearn's value over the whole window (all
present groups), so dashboards agree with an offline Fairlearn run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

from detectors.fairness.config import FairnessConfig
from detectors.fairness.exporter import FairnessExporter
from detectors.fairness.metrics import METRICS, assess, z_score
from detectors.fairness.model_state import STATE_VERSION, Hysteresis, ModelState
from detectors.fairness.snapshot import snapshot
from detectors.fairness.window import FairnessWindow
from detectors.results import FairnessResult
from detectors.telemetry import DetectorTelemetry

__all__ = ["STATE_VERSION", "FairnessMonitor"]


class FairnessMonitor:
    """Fairness metrics and breach verdicts over sliding windows, per model.

    Parameters
    ----------
    config
        Validated :class:`~detectors.fairness.config.FairnessConfig`.
    metrics
        Where gauges and the breach counter go; ``None`` to export nothing.

    Examples
    --------
    >>> from detectors.fairness.config import FairnessConfig
    >>> cfg = FairnessConfig.from_mapping({"models": [{
    ...     "model": "credit-*", "attributes": {"gender": ["f", "m"]},
    ...     "min_group_size": 20, "breach_after": 2, "evaluate_every": {"events": 100},
    ...     "metrics": {"demographic_parity_ratio": 0.8}}]})
    >>> monitor = FairnessMonitor(cfg, metrics=None)
    >>> results = []
    >>> for i in range(400):
    ...     g = "f" if i % 2 else "m"
    ...     approved = int(i % 10 < (2 if g == "f" else 8))   # 20% vs 80% approved
    ...     results += monitor.observe("credit-risk", "1", {"gender": g}, approved,
    ...                                event_id=f"e{i}", ts=float(i))
    >>> [(r.attribute, r.metric, r.state, round(r.value, 2)) for r in results]
    [('gender', 'demographic_parity_ratio', 'breach', 0.25)]
    """

    def __init__(self, config: FairnessConfig, metrics: DetectorTelemetry | None = None) -> None:
        self.config = config
        self._models: dict[str, ModelState] = {}
        self._export = FairnessExporter(metrics)

    # ------------------------------------------------------------------ input
    def _state_for(self, model: str) -> ModelState | None:
        state = self._models.get(model)
        if state is not None:
            return state
        cfg = self.config.for_model(model)
        if cfg is None:
            return None
        if len(self._models) >= self.config.max_models:
            self._export.refused_model()
            return None
        state = ModelState(cfg, FairnessWindow(cfg))
        self._models[model] = state
        return state

    def observe(
        self,
        model: str,
        version: str,
        protected: Mapping[str, object] | None,
        prediction: object,
        score: float | None = None,
        event_id: str | None = None,
        ts: float | None = None,
    ) -> list[FairnessResult]:
        """Add one prediction; evaluate the model when its schedule is due.

        Parameters
        ----------
        protected
            ``subject.protected`` of the event (raw values are mapped to
            configured groups at once and never stored).
        prediction, score
            ``outputs.prediction`` / ``outputs.score``, binarised by the config.
        event_id
            Used to join a later label and to ignore redelivered duplicates.
        ts
            Event time in unix seconds (drives time windows); default now.

        Returns
        -------
        list of FairnessResult
            Breach or clear transitions of this evaluation, usually empty.
        """
        state = self._state_for(model)
        if state is None:
            return []
        now = time.time() if ts is None else ts
        state.version = version
        selected = state.config.prediction(prediction, score)
        if not state.window.add(event_id, now, protected or {}, selected):
            return []
        state.since_eval += 1
        schedule = state.config.evaluate_every
        due = (schedule.events is not None and state.since_eval >= schedule.events) or (
            schedule.seconds is not None and now - state.last_eval >= schedule.seconds
        )
        return self._evaluate_model(model, state, now) if due else []

    def observe_label(self, event_id: str, label: object, model: str | None = None) -> bool:
        """Join a ground-truth label to its event if the event is still in a window.

        Returns ``False`` when no window holds the event (evicted, unknown, or
        its model not monitored): such labels cannot affect the current window.
        """
        return self._join(event_id, label, model) is not None

    def join_label(
        self, event_id: str, label: object, model: str | None = None
    ) -> list[FairnessResult]:
        """:meth:`observe_label`, then evaluate the model when its label schedule is due.

        The label-based metrics change only as labels join, often in a batch long
        after the events: without this, they would stay stale (NaN before the
        first label) until new events arrive. Evaluates at the window's latest
        event time, as an event-driven evaluation would.
        """
        found = self._join(event_id, label, model)
        if found is None:
            return []
        name, state = found
        every = state.config.evaluate_every.labels
        if every is None or state.labels_since_eval < every:
            return []
        return self._evaluate_model(name, state, state.window.watermark)

    def _join(
        self, event_id: str, label: object, model: str | None
    ) -> tuple[str, ModelState] | None:
        if model is None:
            candidates = list(self._models.items())
        else:
            known = self._models.get(model)
            candidates = [(model, known)] if known is not None else []
        for name, state in candidates:
            if state.window.contains(event_id):
                if not state.window.add_label(event_id, state.config.label(label)):
                    return None
                state.labels_since_eval += 1
                return name, state
        return None

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, now: float | None = None, model: str | None = None) -> list[FairnessResult]:
        """Evaluate every model (or one) now and return breach/clear transitions.

        ``now`` is on the clock of event timestamps; by default each window's
        latest event time, so replays behave like live traffic.
        """
        results: list[FairnessResult] = []
        for name, state in list(self._models.items()):
            if model is None or name == model:
                at = state.window.watermark if now is None else now
                results += self._evaluate_model(name, state, at)
        return results

    def tick(self, now: float) -> list[FairnessResult]:
        """Evaluate models whose ``evaluate_every.seconds`` has elapsed or that joined labels.

        Call periodically (on the wall clock) so time windows drain and breaches
        clear when traffic stops, and so labels joined after the last event are
        evaluated even when fewer than ``evaluate_every.labels`` arrived: the
        event clock stands still then. A label-only evaluation runs at the
        window's latest event time and so drains nothing.
        """
        results: list[FairnessResult] = []
        for name, state in list(self._models.items()):
            seconds = state.config.evaluate_every.seconds
            if seconds is not None and now - state.last_eval >= seconds:
                results += self._evaluate_model(name, state, now)
            elif state.labels_since_eval:
                results += self._evaluate_model(name, state, state.window.watermark)
        return results

    def _evaluate_model(self, model: str, state: ModelState, now: float) -> list[FairnessResult]:
        cfg, window = state.config, state.window
        if math.isfinite(now):
            window.evict(now)
        state.since_eval = state.labels_since_eval = 0
        state.last_eval = now if math.isfinite(now) else state.last_eval
        z = z_score(cfg.confidence)
        results: list[FairnessResult] = []
        for d, dim in enumerate(window.dimensions):
            groups = window.groups(d)
            for metric, threshold in cfg.metrics.items():
                value = METRICS[metric](groups)
                evidence = assess(
                    metric,
                    groups,
                    threshold=threshold,
                    z=z,
                    min_group_size=cfg.min_group_size,
                    clear_on=cfg.clear_on,
                )
                hyst = state.hysteresis.setdefault((dim.name, metric), Hysteresis())
                transition = hyst.step(evidence, value, cfg)
                if transition is not None:
                    results.append(
                        FairnessResult(
                            model=model,
                            version=state.version,
                            attribute=dim.name,
                            metric=metric,
                            value=value,
                            threshold=threshold,
                            state=transition,
                            at=now,
                            groups={g: t.n for g, t in groups.items() if t.n},
                        )
                    )
                self._export.value(model, dim.name, metric, value, transition)
            self._export.groups(model, dim.name, groups, z)
        self._export.breached(model, state, self._models)
        return results

    # ------------------------------------------------------------------ API views
    @property
    def models(self) -> list[str]:
        return sorted(self._models)

    def snapshot(self, model: str) -> dict[str, Any] | None:
        """JSON-ready view of one model for the control plane, or ``None`` if unknown.

        Per attribute: each metric's Fairlearn value, threshold, state and last
        evidence; per configured group: counts, rates and Wilson intervals.
        Values are those of the last evaluation; counts are live.
        """
        state = self._models.get(model)
        return None if state is None else snapshot(model, state)

    # ------------------------------------------------------------------ state
    def export_state(self, models: Iterable[str] | None = None) -> dict[str, Any]:
        """JSON-serialisable checkpoint of every model, or of ``models`` (for ``guardian.state``).

        A checkpoint of a subset has the same shape, so :meth:`import_state`
        restores it alongside the models already present.
        """
        wanted = self._models.keys() if models is None else set(models) & self._models.keys()
        return {
            "version": STATE_VERSION,
            "models": {name: s.export() for name, s in self._models.items() if name in wanted},
        }

    def import_state(self, state: Mapping[str, Any]) -> None:
        """Restore a checkpoint under the current config.

        Models the config no longer monitors are dropped; group ids are remapped
        by label (see :meth:`FairnessWindow.from_state`); breach states of
        attributes and metrics still configured are kept, so a restart does not
        re-fire or silently forget a breach.
        """
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported fairness state version {state.get('version')!r}")
        for name, saved in state["models"].items():
            cfg = self.config.for_model(name)
            if cfg is None or (
                name not in self._models and len(self._models) >= self.config.max_models
            ):
                continue
            model_state = ModelState.restore(cfg, saved)
            self._models[name] = model_state
            # A restored breach is exported at once: the alert does not gap while the
            # partition moves from one replica to another.
            self._export.breached(name, model_state, self._models)

    def replace_config(self, config: FairnessConfig) -> None:
        """Apply a new config at runtime, keeping windows and breach states that still fit."""
        saved = self.export_state()
        self.config = config
        self._models = {}
        self.import_state(saved)
        for gone in self._export.models_with_breach_series - self._models.keys():
            self._export.remove_breached(gone)

    def reset(self, model: str | None = None) -> None:
        """Forget one model's (or every model's) window and breach states."""
        for name in list(self._models) if model is None else [model]:
            self._models.pop(name, None)
            self._export.remove_breached(name)

    def drop_model(self, model: str) -> bool:
        """Forget one model's window (its partition moved to another replica); True if known."""
        self._export.remove_breached(model)
        return self._models.pop(model, None) is not None
