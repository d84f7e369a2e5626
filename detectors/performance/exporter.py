"""What the performance monitor exports: estimates, realized values, decisions, exclusions.

Series are per (model, version, segment, metric); ``segment`` is ``all`` for
the whole version and ``<by>=<value>`` for a segment
(:mod:`detectors.performance.segments`). Model, version and segment names pass
through the backend's bounded labels.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from detectors.performance import cbpe
from detectors.performance.verdicts import Hysteresis
from detectors.telemetry import LabelledMetric


class PerformanceTelemetry(Protocol):
    """The metrics the monitor exports (``service.metrics.GuardianMetrics`` has them)."""

    @property
    def model_label(self) -> Any: ...

    @property
    def version_label(self) -> Any: ...

    @property
    def segment_label(self) -> Any: ...

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


def _number(value: float | None) -> float:
    return math.nan if value is None else value


class PerformanceExporter:
    """Sets and removes the performance series; does nothing without telemetry."""

    __slots__ = ("_metrics",)

    def __init__(self, metrics: PerformanceTelemetry | None) -> None:
        self._metrics = metrics

    def _labels(self, model: str, version: str, segment: str) -> tuple[str, str, str]:
        m = self._metrics
        assert m is not None
        return m.model_label(model), m.version_label(version), m.segment_label(segment)

    def refused_window(self) -> None:
        if self._metrics is not None:
            self._metrics.detectors_refused.labels("performance_windows").inc()

    def excluded(self, model: str, reason: str) -> None:
        m = self._metrics
        if m is not None:
            m.performance_excluded.labels(m.model_label(model), reason).inc()

    def evaluation(
        self,
        model: str,
        version: str,
        segment: str,
        estimated: Mapping[str, cbpe.Estimate],
        realized: Mapping[str, cbpe.Estimate],
        hysteresis: Mapping[str, Hysteresis] | None,
    ) -> None:
        """Estimates, realized values and decisions of one evaluated window."""
        m = self._metrics
        if m is None:
            return
        labels = self._labels(model, version, segment)
        for metric, est in estimated.items():
            m.performance_estimated.labels(*labels, metric).set(_number(est.value))
        for metric, real in realized.items():
            m.performance_realized.labels(*labels, metric).set(_number(real.value))
        self.breached(model, version, segment, hysteresis)

    def breached(
        self,
        model: str,
        version: str,
        segment: str,
        hysteresis: Mapping[str, Hysteresis] | None,
    ) -> None:
        m = self._metrics
        if m is None or not hysteresis:
            return
        labels = self._labels(model, version, segment)
        for metric, hyst in hysteresis.items():
            m.performance_breached.labels(*labels, metric).set(int(hyst.state == "breach"))

    def forget(self, model: str, version: str, segment: str, metrics: Iterable[str]) -> None:
        """Remove the decision series of a window this replica no longer holds."""
        m = self._metrics
        if m is None:
            return
        labels = self._labels(model, version, segment)
        for metric in metrics:
            with contextlib.suppress(KeyError):
                m.performance_breached.remove(*labels, metric)
