"""Typed config of performance estimation: which models, windows, calibration, thresholds."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from detectors.drift.segments import SegmentSpec
from detectors.fairness.config import Binarizer

MetricName = Literal["accuracy", "precision", "recall", "f1", "roc_auc"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PerformanceSchedule(_Frozen):
    """Evaluate every ``events`` scored events and every ``labels`` joined labels.

    Labels joined since the last evaluation are also evaluated on the next
    periodic tick, so a batch of labels after traffic stopped is not left
    waiting for the next event.
    """

    events: Annotated[int, Field(gt=0)] = 500
    labels: Annotated[int, Field(gt=0)] = 200


class CalibrationConfig(_Frozen):
    """How raw scores are calibrated from joined labels.

    ``auto`` (and ``isotonic``) fits isotonic regression, ``platt`` Platt
    scaling; ``none`` takes scores as calibrated. A fit needs
    ``min_labels`` pairs with at least ``min_per_class`` of each class, and is
    redone every ``refit_every`` new labels over the last ``max_pairs`` pairs.
    """

    method: Literal["auto", "isotonic", "platt", "none"] = "auto"
    min_labels: Annotated[int, Field(ge=10)] = 300
    min_per_class: Annotated[int, Field(ge=1)] = 30
    refit_every: Annotated[int, Field(ge=1)] = 500
    max_pairs: Annotated[int, Field(ge=10, le=20_000)] = 5_000


class ModelPerformanceConfig(_Frozen):
    """Performance estimation for the models whose name matches ``model`` (a glob).

    Parameters
    ----------
    window
        Scored events per (model, version) the estimates are computed over.
    prediction
        How ``outputs.prediction`` (or, with ``score_threshold``, the score)
        becomes the predicted class; ``label`` the same for labels.
    thresholds
        Metric -> lowest acceptable *estimated* value; below it for
        ``breach_after`` consecutive evaluations raises the alert, at or above
        ``threshold + clear_margin`` for ``clear_after`` clears it.
    min_events
        Scored events needed before an estimate can breach.
    """

    model: str = "*"
    #: ``auto``: a binary classifier when events carry ``outputs.score``, a regression model
    #: when they carry a float ``outputs.prediction`` and no score (decided on the first event).
    task: Literal["auto", "binary", "regression"] = "auto"
    window: Annotated[int, Field(ge=10, le=200_000)] = 5_000
    prediction: Binarizer = Binarizer()
    label: Binarizer = Binarizer()
    evaluate_every: PerformanceSchedule = PerformanceSchedule()
    calibration: CalibrationConfig = CalibrationConfig()
    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    thresholds: dict[MetricName, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        default_factory=dict
    )
    min_events: Annotated[int, Field(ge=1)] = 200
    breach_after: Annotated[int, Field(ge=1)] = 3
    clear_after: Annotated[int, Field(ge=1)] = 3
    clear_margin: Annotated[float, Field(ge=0.0, le=0.5)] = 0.01


class PerformanceConfig(_Frozen):
    """All performance estimation: the first entry whose glob matches a model applies.

    ``segments`` (the drift segments' form, :class:`~detectors.drift.segments.SegmentSpec`:
    ``by`` a metadata key, a protected attribute or the tenant, bounded to ``top_k``
    values plus ``__other__``) give binary classifiers a window per segment as well,
    judged against the model's thresholds.
    """

    models: tuple[ModelPerformanceConfig, ...] = ()
    segments: tuple[SegmentSpec, ...] = Field(default=(), max_length=10)
    #: Windows kept at most, of (model, version) and of segments; beyond, new ones are
    #: refused and counted (``guardian_detectors_refused_total{limit="performance_windows"}``).
    max_windows: Annotated[int, Field(ge=1)] = 200

    @model_validator(mode="after")
    def _globs(self) -> PerformanceConfig:
        for entry in self.models:
            if not entry.model:
                raise ValueError("model glob must not be empty")
        if len({(s.by, s.model) for s in self.segments}) != len(self.segments):
            raise ValueError("segments: each (by, model) may appear once")
        return self

    def for_model(self, model: str) -> ModelPerformanceConfig | None:
        for entry in self.models:
            if fnmatch.fnmatchcase(model, entry.model):
                return entry
        return None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> PerformanceConfig:
        return cls.model_validate(dict(data or {}))

    @classmethod
    def load(cls, path: str | Path) -> PerformanceConfig:
        """Read and validate a YAML file such as ``config/performance.yaml``."""
        with Path(path).open(encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping at the top level")
        return cls.from_mapping(data)
