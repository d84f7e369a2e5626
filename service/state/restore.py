"""What a restore gathers from the state topic, by kind, and how it installs it.

The checkpointer reads the latest signed checkpoint of every key of its state
partitions and admits those of its input partitions (:mod:`service.state.checkpointer`);
:class:`Gathered` sorts the admitted states by kind (drift detectors, fairness
windows, performance windows, text statistics) and installs each kind into its
owner in one call, reporting what was restored and what was refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from detectors.fairness.monitor import STATE_VERSION as FAIRNESS_STATE_VERSION
from detectors.performance.monitor import STATE_VERSION as PERFORMANCE_STATE_VERSION

if TYPE_CHECKING:
    from detectors.fairness.monitor import FairnessMonitor
    from detectors.performance.monitor import PerformanceMonitor
    from detectors.registry import DetectorRegistry
    from detectors.text.statistics import TextStatistics
    from service.alerting.engine import AlertEngine
    from service.metrics import GuardianMetrics
    from service.state.checkpoint import Checkpoint

FAIRNESS_PREFIX = "fairness/"
PERFORMANCE_PREFIX = "performance/"
TEXT_PREFIX = "text/"
ALERTS_PREFIX = "alerts/"
#: Version of the ``alerts/<model>`` checkpoints: the model's active alerts.
ALERTS_STATE_VERSION = 1


@dataclass(slots=True)
class RestoreReport:
    """What one restore read and did (for logs and tests)."""

    records: int = 0
    restored: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    models: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Gathered:
    """The admitted checkpoint states of one restore, by kind."""

    drift: dict[str, dict[str, Any]] = field(default_factory=dict)
    fairness: dict[str, Any] = field(default_factory=dict)
    performance: dict[str, Any] = field(default_factory=dict)
    text: dict[str, Any] = field(default_factory=dict)
    alerts: dict[str, list[Any]] = field(default_factory=dict)

    def take(self, cp: Checkpoint) -> bool:
        """Keep ``cp``'s state under its kind; False when the state is malformed."""
        state = cp.state
        if cp.kind == "drift":
            self.drift[cp.key] = dict(state)
            return True
        if cp.kind == "performance":
            windows = state.get("windows")
            if state.get("version") != PERFORMANCE_STATE_VERSION or not isinstance(windows, dict):
                return False
            self.performance.update(windows)
            return True
        if cp.kind == "alerts":
            alerts = state.get("alerts")
            if state.get("version") != ALERTS_STATE_VERSION or not isinstance(alerts, list):
                return False
            self.alerts[cp.model] = alerts
            return True
        if cp.kind == "text":
            fields = state.get("fields")
            if not isinstance(fields, dict):
                return False
            self.text[cp.model] = fields
            return True
        saved = state.get("models")
        if state.get("version") != FAIRNESS_STATE_VERSION or not isinstance(saved, dict):
            return False
        self.fairness.update(saved)
        return True

    def install(
        self,
        report: RestoreReport,
        metrics: GuardianMetrics,
        registry: DetectorRegistry,
        fairness: FairnessMonitor,
        performance: PerformanceMonitor | None,
        text: TextStatistics | None,
        alerts: AlertEngine | None = None,
    ) -> None:
        """Hand each kind to its owner; what an owner refuses is reported, not raised."""
        imported = registry.import_state(self.drift)
        report.restored.extend(imported.restored)
        for detector_id, reason in imported.refused.items():
            report.refused[detector_id] = f"refused_state: {reason}"
        if imported.refused:
            metrics.checkpoints.labels("refused_state").inc(len(imported.refused))
        if self.fairness:
            try:
                fairness.import_state({"version": FAIRNESS_STATE_VERSION, "models": self.fairness})
                report.restored.extend(FAIRNESS_PREFIX + m for m in self.fairness)
            except (ValueError, KeyError, TypeError) as exc:
                metrics.checkpoints.labels("refused_state").inc()
                report.refused["fairness"] = f"refused_state: {type(exc).__name__}"
        if self.performance and performance is not None:
            self._install_performance(report, performance)
        if text is not None:
            self._install_text(report, text)
        if alerts is not None:
            self._install_alerts(report, alerts)

    def _install_alerts(self, report: RestoreReport, alerts: AlertEngine) -> None:
        for model, states in self.alerts.items():
            try:
                alerts.import_model(states)
                report.restored.append(ALERTS_PREFIX + model)
            except (ValueError, KeyError, TypeError) as exc:
                report.refused[ALERTS_PREFIX + model] = f"refused_state: {type(exc).__name__}"

    def _install_performance(self, report: RestoreReport, performance: PerformanceMonitor) -> None:
        not_restored = performance.import_state(
            {"version": PERFORMANCE_STATE_VERSION, "windows": self.performance}
        )
        for window_key in not_restored:
            report.refused[PERFORMANCE_PREFIX + window_key] = "refused_state"
        restored = {k.partition("|")[0] for k in self.performance.keys() - set(not_restored)}
        report.restored.extend(PERFORMANCE_PREFIX + m for m in sorted(restored))

    def _install_text(self, report: RestoreReport, text: TextStatistics) -> None:
        for model, fields in self.text.items():
            try:
                text.import_state(model, fields)
                report.restored.append(TEXT_PREFIX + model)
            except (ValueError, KeyError, TypeError) as exc:
                report.refused[TEXT_PREFIX + model] = f"refused_state: {type(exc).__name__}"
