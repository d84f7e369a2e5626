"""What the fairness monitor exports through :class:`~detectors.telemetry.DetectorTelemetry`.

Per (model, attribute, metric): Fairlearn's value, the breach counter and the
breach decision (0/1). Per configured group: its event count and each rate with
its Wilson interval. Series that no longer describe anything (a group left the
window, a model moved to another replica) are removed, not left stale.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from detectors.fairness.metrics import RATE_PARTS, estimate
from detectors.fairness.model_state import Hysteresis, ModelState
from detectors.fairness.window import GroupTally
from detectors.telemetry import OTHER, DetectorTelemetry

_OK = Hysteresis()


class FairnessExporter:
    """Sets and removes the fairness series of one monitor; does nothing without telemetry."""

    def __init__(self, metrics: DetectorTelemetry | None) -> None:
        self._metrics = metrics
        #: label tuples of guardian_fairness_group_rate set here and not removed
        self._rate_series: set[tuple[str, ...]] = set()
        #: model -> label tuples of guardian_fairness_breached exported for it
        self._breached_series: dict[str, set[tuple[str, str, str]]] = {}

    @property
    def models_with_breach_series(self) -> set[str]:
        return set(self._breached_series)

    def refused_model(self) -> None:
        if self._metrics is not None:
            self._metrics.detectors_refused.labels("fairness_models").inc()

    def value(
        self, model: str, attribute: str, metric: str, value: float, transition: str | None
    ) -> None:
        m = self._metrics
        if m is None:
            return
        labels = (m.model_label(model), m.attribute_label(attribute), metric)
        m.fairness_value.labels(*labels).set(value)
        if transition == "breach":
            m.fairness_breaches.labels(*labels).inc()

    def breached(self, model: str, state: ModelState, models: Mapping[str, ModelState]) -> None:
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
                breached = self._folded_breach(model, attribute, metric, models)
            m.fairness_breached.labels(*series).set(1 if breached else 0)
            exported.add(series)
        self.remove_breached(model, keep=exported)
        self._breached_series[model] = exported

    def _folded_breach(
        self, model: str, attribute: str, metric: str, models: Mapping[str, ModelState]
    ) -> bool:
        m = self._metrics
        assert m is not None
        return any(
            name != model
            and m.model_label(name) == OTHER
            and other.hysteresis.get((attribute, metric), _OK).state == "breach"
            for name, other in models.items()
        )

    def remove_breached(self, model: str, keep: set[tuple[str, str, str]] | None = None) -> None:
        """Stop exporting ``model``'s decisions (its partition moved, it was reset)."""
        m = self._metrics
        stale = self._breached_series.pop(model, set()) - (keep or set())
        if m is None:
            return
        shared = set().union(*self._breached_series.values()) if self._breached_series else set()
        for series in stale - shared:  # a series folded into __other__ may be another model's
            with contextlib.suppress(KeyError):
                m.fairness_breached.remove(*series)

    def groups(
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
                    self._rate(m, (model_l, attr_l, group_l, rate, bound), number, est.total)

    def _rate(
        self, m: DetectorTelemetry, series: tuple[str, ...], number: float, total: int
    ) -> None:
        if total:
            m.fairness_group_rate.labels(*series).set(number)
            self._rate_series.add(series)
        elif series in self._rate_series:
            # The group left the window: do not leave a stale rate behind. Only series
            # set here can exist (a remove that misses costs an exception).
            self._rate_series.discard(series)
            with contextlib.suppress(KeyError):
                m.fairness_group_rate.remove(*series)
