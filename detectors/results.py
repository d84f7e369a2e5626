"""Results that detectors hand to the alert engine.

They carry identifiers and statistics only, never event values: an alert built
from them cannot leak what a user typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class DriftResult:
    """One detected change on one (model, version, feature) stream.

    ``feature`` is a feature name, ``outputs.score``, ``outputs.prediction``,
    ``missing:<feature>`` or ``error_rate`` (concept drift on joined labels).
    """

    model: str
    version: str
    feature: str
    detector: str
    detector_id: str
    statistic: float
    at: float  # unix seconds when detected
    n_seen: int  # values the detector had seen when it fired
    details: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FairnessResult:
    """A fairness breach or its clearing for one (model, attribute, metric)."""

    model: str
    version: str
    attribute: str
    metric: str  # Fairlearn's name, e.g. "demographic_parity_ratio"
    value: float
    threshold: float
    state: Literal["breach", "clear"]
    at: float
    groups: dict[str, int] = field(default_factory=dict)  # configured group label -> count


@dataclass(frozen=True, slots=True)
class PerformanceResult:
    """An estimated metric falling below its threshold (``breach``) or recovering (``clear``).

    ``segment`` is ``all`` for the whole model version, else ``<by>=<value>``
    (``metadata.region=eu``; see :mod:`detectors.performance.segments`).
    """

    model: str
    version: str
    metric: str  # accuracy, precision, recall, f1, roc_auc
    value: float
    threshold: float
    state: Literal["breach", "clear"]
    at: float
    n: int = 0  # scored events in the window
    segment: str = "all"
