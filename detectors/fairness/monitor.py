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

import contextlib
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from detectors.fairness.config import (
    LABELLED_METRICS,
    LOWER_IS_WORSE,
    FairnessConfig,
    ModelFairnessConfig,
)
from detectors.fairness.metrics import (
    METRICS,
    RATE_PARTS,
    Evidence,
    assess,
    estimate,
    z_score,
)
from detectors.fairness.window import FairnessWindow, GroupTally
from detectors.results import FairnessResult
from detectors.telemetry import OTHER, DetectorTelemetry

STATE_VERSION = 1
_KEY_SEP = "|"


@dataclass(slots=True)
class _Hysteresis:
    state: Literal["ok", "breach"] = "ok"
    breach_run: int = 0
    clear_run: int = 0
    evidence: Evidence = "insufficient"
    value: float = math.nan


class _ModelState:
    __slots__ = (
        "config",
        "window",
        "version",
        "since_eval",
        "labels_since_eval",
        "last_eval",
        "hysteresis",
    )

    def __init__(self, config: ModelFairnessConfig, window: FairnessWindow) -> None:
        self.config = config
        self.window = window
        self.version = ""
        self.since_eval = 0
        self.labels_since_eval = 0
        self.last_eval = -math.inf
        self.hysteresis: dict[tuple[str, str], _Hysteresis] = {}


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) else value


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
        self._metrics = metrics
        self._models: dict[str, _ModelState] = {}
        #: label tuples of guardian_fairness_group_rate this monitor has set and not removed
        self._rate_series: set[tuple[str, ...]] = set()
        #: model -> label tuples of guardian_fairness_breached this monitor exports for it
        self._breached_series: dict[str, set[tuple[str, str, str]]] = {}

    # ------------------------------------------------------------------ input
    def _state_for(self, model: str) -> _ModelState | None:
        state = self._models.get(model)
        if state is not None:
            return state
        cfg = self.config.for_model(model)
        if cfg is None:
            return None
        if len(self._models) >= self.config.max_models:
            if self._metrics is not None:
                self._metrics.detectors_refused.labels("fairness_models").inc()
            return None
        state = _ModelState(cfg, FairnessWindow(cfg))
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
    ) -> tuple[str, _ModelState] | None:
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

    def _groups(self, window: FairnessWindow, d: int) -> dict[str, GroupTally]:
        return dict(zip(window.dimensions[d].labels, window.tallies(d), strict=True))

    def _evaluate_model(self, model: str, state: _ModelState, now: float) -> list[FairnessResult]:
        cfg, window = state.config, state.window
        if math.isfinite(now):
            window.evict(now)
        state.since_eval = state.labels_since_eval = 0
        state.last_eval = now if math.isfinite(now) else state.last_eval
        z = z_score(cfg.confidence)
        results: list[FairnessResult] = []
        for d, dim in enumerate(window.dimensions):
            groups = self._groups(window, d)
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
                hyst = state.hysteresis.setdefault((dim.name, metric), _Hysteresis())
                transition = self._step(hyst, evidence, value, cfg)
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
                self._export_value(model, dim.name, metric, value, transition)
            self._export_groups(model, dim.name, groups, z)
        self._export_breached(model, state)
        return results

    @staticmethod
    def _step(
        hyst: _Hysteresis, evidence: Evidence, value: float, cfg: ModelFairnessConfig
    ) -> Literal["breach", "clear"] | None:
        hyst.evidence, hyst.value = evidence, value
        if evidence == "breach":
            hyst.breach_run += 1
            hyst.clear_run = 0
        elif evidence == "within":
            hyst.clear_run += 1
            hyst.breach_run = 0
        else:
            hyst.breach_run = hyst.clear_run = 0
        if hyst.state == "ok" and hyst.breach_run >= cfg.breach_after:
            hyst.state = "breach"
            return "breach"
        if hyst.state == "breach" and hyst.clear_run >= cfg.clear_after:
            hyst.state = "ok"
            return "clear"
        return None

    # ------------------------------------------------------------------ export
    def _export_value(
        self, model: str, attribute: str, metric: str, value: float, transition: str | None
    ) -> None:
        m = self._metrics
        if m is None:
            return
        labels = (m.model_label(model), m.attribute_label(attribute), metric)
        m.fairness_value.labels(*labels).set(value)
        if transition == "breach":
            m.fairness_breaches.labels(*labels).inc()

    def _export_breached(self, model: str, state: _ModelState) -> None:
        """Export the breach decision (0/1) of every (attribute, metric) of ``model``.

        This gauge, not a threshold on ``guardian_fairness_value``, is what alerts
        read: only the monitor knows the group sizes, confidence, hysteresis and
        the model's own thresholds. Series of pairs no longer monitored are removed.
        """
        m = self._metrics
        if m is None:
            return
        model_l = m.model_label(model)
        exported: set[tuple[str, str, str]] = set()
        for (attribute, metric), hyst in state.hysteresis.items():
            series = (model_l, m.attribute_label(attribute), metric)
            breached = hyst.state == "breach"
            if model_l == OTHER and not breached:
                # models past the label bound share one series: it is 1 while any holds a breach
                breached = self._folded_breach(model, attribute, metric)
            m.fairness_breached.labels(*series).set(1 if breached else 0)
            exported.add(series)
        self._remove_breached(model, keep=exported)
        self._breached_series[model] = exported

    def _folded_breach(self, model: str, attribute: str, metric: str) -> bool:
        m = self._metrics
        assert m is not None
        return any(
            name != model
            and m.model_label(name) == OTHER
            and other.hysteresis.get((attribute, metric), _Hysteresis()).state == "breach"
            for name, other in self._models.items()
        )

    def _remove_breached(self, model: str, keep: set[tuple[str, str, str]] | None = None) -> None:
        """Stop exporting ``model``'s decisions (its partition moved, it was reset)."""
        m = self._metrics
        stale = self._breached_series.pop(model, set()) - (keep or set())
        if m is None:
            return
        shared = set().union(*self._breached_series.values()) if self._breached_series else set()
        for series in stale - shared:  # a series folded into __other__ may be another model's
            with contextlib.suppress(KeyError):
                m.fairness_breached.remove(*series)

    def _export_groups(
        self, model: str, attribute: str, groups: Mapping[str, GroupTally], z: float
    ) -> None:
        m = self._metrics
        if m is None:
            return
        model_l, attr_l = m.model_label(model), m.attribute_label(attribute)
        for label, tally in groups.items():
            group_l = m.group_label(label)
            m.fairness_group_events.labels(model_l, attr_l, group_l).set(tally.n)
            for rate in RATE_PARTS:
                est = estimate(tally, rate, z)
                for bound, number in (
                    ("value", est.value),
                    ("lower", est.lower),
                    ("upper", est.upper),
                ):
                    series = (model_l, attr_l, group_l, rate, bound)
                    if est.total:
                        m.fairness_group_rate.labels(*series).set(number)
                        self._rate_series.add(series)
                    elif series in self._rate_series:
                        # The group left the window: do not leave a stale rate behind. Only
                        # series set here can exist (a remove that misses costs an exception).
                        self._rate_series.discard(series)
                        with contextlib.suppress(KeyError):
                            m.fairness_group_rate.remove(*series)

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
        if state is None:
            return None
        cfg, window = state.config, state.window
        z = z_score(cfg.confidence)
        attributes: dict[str, Any] = {}
        for d, dim in enumerate(window.dimensions):
            groups = self._groups(window, d)
            metrics_view: dict[str, Any] = {}
            for metric, threshold in cfg.metrics.items():
                hyst = state.hysteresis.get((dim.name, metric), _Hysteresis())
                metrics_view[metric] = {
                    "value": _json_float(METRICS[metric](groups)),
                    "threshold": threshold,
                    "breach_when": "below" if metric in LOWER_IS_WORSE else "above",
                    "needs_labels": metric in LABELLED_METRICS,
                    "state": hyst.state,
                    "evidence": hyst.evidence,
                    "breach_run": hyst.breach_run,
                    "clear_run": hyst.clear_run,
                }
            groups_view: dict[str, Any] = {}
            for label, tally in groups.items():
                rates: dict[str, Any] = {}
                for rate in RATE_PARTS:
                    est = estimate(tally, rate, z)
                    rates[rate] = (
                        {
                            "value": est.value,
                            "lower": est.lower,
                            "upper": est.upper,
                            "n": est.total,
                            "eligible": est.total >= cfg.min_group_size,
                        }
                        if est.total
                        else None
                    )
                groups_view[label] = {"counts": tally.as_dict(), **rates}
            attributes[dim.name] = {"metrics": metrics_view, "groups": groups_view}
        return {
            "model": model,
            "version": state.version,
            "events": len(window),
            "confidence": cfg.confidence,
            "min_group_size": cfg.min_group_size,
            "attributes": attributes,
        }

    # ------------------------------------------------------------------ state
    def export_state(self, models: Iterable[str] | None = None) -> dict[str, Any]:
        """JSON-serialisable checkpoint of every model, or of ``models`` (for ``guardian.state``).

        A checkpoint of a subset has the same shape, so :meth:`import_state`
        restores it alongside the models already present.
        """
        wanted = self._models.keys() if models is None else set(models) & self._models.keys()
        return {
            "version": STATE_VERSION,
            "models": {
                name: {
                    "version": s.version,
                    "since_eval": s.since_eval,
                    "labels_since_eval": s.labels_since_eval,
                    "last_eval": s.last_eval if math.isfinite(s.last_eval) else None,
                    "window": s.window.export_state(),
                    "hysteresis": {
                        f"{attr}{_KEY_SEP}{metric}": {
                            **asdict(h),
                            "value": _json_float(h.value),
                        }
                        for (attr, metric), h in s.hysteresis.items()
                    },
                }
                for name, s in self._models.items()
                if name in wanted
            },
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
            model_state = _ModelState(cfg, FairnessWindow.from_state(cfg, saved["window"]))
            model_state.version = str(saved.get("version", ""))
            model_state.since_eval = int(saved.get("since_eval", 0))
            model_state.labels_since_eval = int(saved.get("labels_since_eval", 0))
            last_eval = saved.get("last_eval")
            model_state.last_eval = -math.inf if last_eval is None else float(last_eval)
            dims = {dim.name for dim in model_state.window.dimensions}
            for key, h in saved.get("hysteresis", {}).items():
                attr, _, metric = key.rpartition(_KEY_SEP)
                if attr in dims and metric in cfg.metrics:
                    value = h.get("value")
                    model_state.hysteresis[(attr, metric)] = _Hysteresis(
                        state=h["state"],
                        breach_run=int(h["breach_run"]),
                        clear_run=int(h["clear_run"]),
                        evidence=h["evidence"],
                        value=math.nan if value is None else float(value),
                    )
            self._models[name] = model_state
            # A restored breach is exported at once: the alert does not gap while the
            # partition moves from one replica to another.
            self._export_breached(name, model_state)

    def replace_config(self, config: FairnessConfig) -> None:
        """Apply a new config at runtime, keeping windows and breach states that still fit."""
        saved = self.export_state()
        self.config = config
        self._models = {}
        self.import_state(saved)
        for gone in set(self._breached_series) - self._models.keys():
            self._remove_breached(gone)

    def reset(self, model: str | None = None) -> None:
        """Forget one model's (or every model's) window and breach states."""
        for name in list(self._models) if model is None else [model]:
            self._models.pop(name, None)
            self._remove_breached(name)

    def drop_model(self, model: str) -> bool:
        """Forget one model's window (its partition moved to another replica); True if known."""
        self._remove_breached(model)
        return self._models.pop(model, None) is not None
