"""Typed fairness configuration, loaded once from ``config/fairness.yaml``.

The YAML is data (which models, which protected attributes, which thresholds);
this module validates it into frozen objects so the monitor never meets a
half-valid setting at evaluation time.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    model_validator,
)

from detectors.telemetry import OTHER

MetricName = Literal[
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equal_opportunity_difference",
    "equalized_odds_difference",
]

#: Metrics that need ground-truth labels (computed on the labelled part of the window).
LABELLED_METRICS: frozenset[str] = frozenset(
    {"equal_opportunity_difference", "equalized_odds_difference"}
)
#: Metrics where a *smaller* value is worse (breach when value < threshold).
LOWER_IS_WORSE: frozenset[str] = frozenset({"demographic_parity_ratio"})

#: Four-fifths rule for the ratio; 0.1 for the differences.
DEFAULT_THRESHOLDS: dict[MetricName, float] = {
    "demographic_parity_ratio": 0.8,
    "demographic_parity_difference": 0.1,
    "equal_opportunity_difference": 0.1,
    "equalized_odds_difference": 0.1,
}

#: Separator of intersectional attribute names and group labels ("gender&age_band").
INTERSECTION_SEP = "&"

PositiveValue = StrictBool | StrictInt | StrictFloat | str


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WindowConfig(_Frozen):
    """Sliding window bounds; at least one of ``size`` and ``seconds``.

    ``max_events`` caps a time-only window so a traffic burst cannot exhaust memory.
    """

    size: Annotated[int, Field(gt=0)] | None = 5000
    seconds: Annotated[float, Field(gt=0)] | None = None
    max_events: Annotated[int, Field(gt=0)] = 200_000

    @model_validator(mode="after")
    def _one_bound(self) -> WindowConfig:
        if self.size is None and self.seconds is None:
            raise ValueError("window needs 'size' (events) or 'seconds' (or both)")
        return self

    @property
    def capacity(self) -> int:
        """Largest number of events the window may hold."""
        return min(self.size, self.max_events) if self.size is not None else self.max_events


class EvaluationSchedule(_Frozen):
    """When the monitor evaluates on its own.

    Every ``events`` events, every ``seconds`` of event time, and every ``labels``
    labels joined to the window: labels often arrive in a batch after traffic has
    stopped, and the label-based metrics (equal opportunity, equalized odds) only
    change then. Labels joined since the last evaluation are also evaluated on the
    next periodic :meth:`~detectors.fairness.monitor.FairnessMonitor.tick`, so a
    batch smaller than ``labels`` is not left unevaluated.
    """

    events: Annotated[int, Field(gt=0)] | None = 200
    seconds: Annotated[float, Field(gt=0)] | None = None
    labels: Annotated[int, Field(gt=0)] | None = 200

    @model_validator(mode="after")
    def _one_trigger(self) -> EvaluationSchedule:
        if self.events is None and self.seconds is None:
            raise ValueError("evaluate_every needs 'events' or 'seconds' (or both)")
        return self


class Binarizer(_Frozen):
    """How a raw prediction (or label) becomes positive (1) or negative (0).

    With ``score_threshold`` set and a score present, ``score >= score_threshold``
    decides; otherwise the value is positive when it equals one of ``positive``
    (``True`` and ``1`` compare equal, as in Python; strings match exactly).
    """

    positive: tuple[PositiveValue, ...] = (1, True, "1", "approve", "yes", "positive")
    score_threshold: Annotated[float, Field(ge=0.0, le=1.0)] | None = None

    @cached_property
    def _sets(self) -> tuple[frozenset[str], frozenset[object]]:
        # Set lookups, not a scan of ``positive``: this runs once per event in two monitors.
        strings = frozenset(c for c in self.positive if type(c) is str)
        return strings, frozenset(c for c in self.positive if type(c) is not str)

    def __call__(self, value: object, score: float | None = None) -> int:
        if self.score_threshold is not None and score is not None:
            return int(score >= self.score_threshold)
        strings, numbers = self._sets
        if type(value) is str:
            return int(value in strings)
        if isinstance(value, float) and math.isnan(value):
            return 0
        try:
            return int(value in numbers)  # 1 == 1.0 == True, as Python compares them
        except TypeError:  # a list or dict is never positive
            return 0


class ModelFairnessConfig(_Frozen):
    """Fairness monitoring for the models whose name matches ``model`` (a glob).

    Parameters
    ----------
    attributes
        Protected attribute -> configured group labels. Raw values outside the
        list count as ``__other__``; an event without the attribute is left out
        of that attribute's metrics.
    intersections
        Pairs of attributes also monitored jointly, named ``"a&b"``.
    metrics
        Fairlearn metric name -> threshold. ``demographic_parity_ratio`` breaches
        below its threshold, the differences above theirs.
    min_group_size
        A group takes part in a verdict only with at least this many events in
        the rate's denominator (events, label positives or label negatives).
    confidence
        Two-sided level of the per-group Wilson intervals used for verdicts.
    breach_after, clear_after
        Consecutive evaluations with (confident) evidence needed to change state.
    clear_on
        ``"estimate"`` (default): clear when the metric over the eligible groups
        is back within its threshold. ``"confident"``: clear only when it is
        within even at the unfavourable ends of the intervals (the exact mirror
        of the breach rule). The mirror is an equivalence test and needs large
        groups: at a selection rate of 0.5 and 95% it needs about 500 events per
        group for the four-fifths rule, so with smaller windows a breach would
        never clear.
    """

    model: str = "*"
    attributes: dict[str, tuple[str, ...]]
    intersections: tuple[tuple[str, str], ...] = ()
    prediction: Binarizer = Binarizer()
    label: Binarizer = Binarizer(score_threshold=None)
    window: WindowConfig = WindowConfig()
    evaluate_every: EvaluationSchedule = EvaluationSchedule()
    min_group_size: Annotated[int, Field(ge=1)] = 30
    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    metrics: dict[MetricName, Annotated[float, Field(ge=0.0)]] = Field(
        default_factory=lambda: dict(DEFAULT_THRESHOLDS)
    )
    breach_after: Annotated[int, Field(ge=1)] = 3
    clear_after: Annotated[int, Field(ge=1)] = 3
    clear_on: Literal["confident", "estimate"] = "estimate"

    @model_validator(mode="after")
    def _check_groups(self) -> ModelFairnessConfig:
        if not self.attributes:
            raise ValueError("at least one protected attribute is required")
        for name, groups in self.attributes.items():
            if not groups:
                raise ValueError(f"attribute {name!r} needs at least one group")
            if len(set(groups)) != len(groups):
                raise ValueError(f"attribute {name!r} lists a group twice")
            if OTHER in groups:
                raise ValueError(f"attribute {name!r}: {OTHER!r} is reserved")
            if INTERSECTION_SEP in name or any(INTERSECTION_SEP in g for g in groups):
                raise ValueError(f"attribute {name!r}: {INTERSECTION_SEP!r} is reserved")
        for first, second in self.intersections:
            for part in (first, second):
                if part not in self.attributes:
                    raise ValueError(f"intersection names unknown attribute {part!r}")
            if first == second:
                raise ValueError(f"intersection of {first!r} with itself")
        ratio = self.metrics.get("demographic_parity_ratio")
        if ratio is not None and ratio > 1.0:
            raise ValueError("demographic_parity_ratio threshold must be in [0, 1]")
        return self


class FairnessConfig(_Frozen):
    """All fairness monitoring: the first entry whose glob matches a model applies."""

    models: tuple[ModelFairnessConfig, ...] = ()
    #: Windows kept at most; a publisher inventing model names cannot exhaust memory.
    max_models: Annotated[int, Field(ge=1)] = 200

    def for_model(self, model: str) -> ModelFairnessConfig | None:
        """Return the config of ``model`` or ``None`` when it is not monitored."""
        for entry in self.models:
            if fnmatch.fnmatchcase(model, entry.model):
                return entry
        return None

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> FairnessConfig:
        """Validate a parsed YAML mapping (top-level key ``models``)."""
        return cls.model_validate(data)

    @classmethod
    def load(cls, path: str | Path) -> FairnessConfig:
        """Read and validate a YAML file such as ``config/fairness.yaml``."""
        with Path(path).open(encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping at the top level")
        return cls.from_mapping(data)


def group_labels(groups: Sequence[str]) -> tuple[str, ...]:
    """Labels of an attribute's group ids: configured groups, then ``__other__``."""
    return (*groups, OTHER)
