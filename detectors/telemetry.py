"""What the detectors need of a metrics backend, as Protocols.

``detectors/`` is a library: it imports nothing of ``service/``. The service hands
the registry, the fairness monitor and the label join an object that satisfies
:class:`DetectorTelemetry` (``service.metrics.GuardianMetrics`` does, with
prometheus-client); a user of the library alone passes ``None`` or any object of
the same shape.

Labels built from event data (model, feature, attribute and group names) go
through the ``*_label`` callables first, so the backend can bound their
cardinality (fold the tail into :data:`OTHER`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

OTHER = "__other__"
"""The label value that stands for every value past a bounded label's top-k."""


class LabelledMetric(Protocol):
    """A metric family with labels (``Counter`` or ``Gauge`` of prometheus-client)."""

    def labels(self, *values: str) -> Any: ...

    def remove(self, *values: str) -> None: ...


class Gauge(Protocol):
    """A metric without labels that is set to a level."""

    def set(self, value: float) -> None: ...


class DetectorTelemetry(Protocol):
    """The metrics the detectors, the fairness monitor and the label join export.

    Read-only members, so any object with these attributes satisfies it.
    """

    @property
    def model_label(self) -> Callable[[str], str]: ...

    @property
    def feature_label(self) -> Callable[[str], str]: ...

    @property
    def attribute_label(self) -> Callable[[str], str]: ...

    @property
    def group_label(self) -> Callable[[str], str]: ...

    @property
    def drift_detected(self) -> LabelledMetric: ...

    @property
    def drift_statistic(self) -> LabelledMetric: ...

    @property
    def fairness_value(self) -> LabelledMetric: ...

    @property
    def fairness_breaches(self) -> LabelledMetric: ...

    @property
    def fairness_breached(self) -> LabelledMetric:
        """Gauge (model, attribute, metric): 1 while the monitor holds a breach, else 0."""
        ...

    @property
    def fairness_group_events(self) -> LabelledMetric: ...

    @property
    def fairness_group_rate(self) -> LabelledMetric: ...

    @property
    def detectors_refused(self) -> LabelledMetric: ...

    @property
    def detectors_active(self) -> Gauge: ...

    @property
    def labels_joined(self) -> LabelledMetric: ...
