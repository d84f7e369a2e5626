"""Detector specs: which detectors watch which stream, with what parameters and limits.

The YAML in ``config/detectors.yaml`` is validated once into these frozen
models; every ``DetectorSpec`` validates its params against the kind's
``Params`` schema at load time, so a typo fails start-up (or a control-plane
PUT) with a message naming the kind and the field, never at the first event.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from detectors.base import Detector, DetectorParams, InputType
from detectors.drift import DETECTOR_KINDS
from detectors.drift.budget import AlarmBudget
from detectors.drift.reference import ReferenceProfile
from detectors.drift.segments import SegmentSpec

FeatureType = Literal["numeric", "categorical", "score", "prediction", "missing", "error"]

#: Which detector input a feature type feeds.
INPUT_OF: dict[str, InputType] = {
    "numeric": "numeric",
    "score": "numeric",
    "categorical": "categorical",
    "prediction": "categorical",
    "missing": "binary",
    "error": "binary",
}

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "config" / "detectors.yaml"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DetectorSpec(_Frozen):
    """One detector to run on a stream: its kind, params and guards."""

    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    warm_up: int | None = Field(default=None, ge=0)
    min_samples: int | None = Field(default=None, ge=0)
    cooldown: int | None = Field(default=None, ge=0)

    _resolved: DetectorParams = PrivateAttr()

    @model_validator(mode="after")
    def _validate_params(self) -> Self:
        cls = DETECTOR_KINDS.get(self.kind)
        if cls is None:
            raise ValueError(
                f"unknown detector kind {self.kind!r}; known: {sorted(DETECTOR_KINDS)}"
            )
        merged = dict(self.params)
        for guard in ("warm_up", "min_samples", "cooldown"):
            value = getattr(self, guard)
            if value is not None:
                merged[guard] = value
        self._resolved = cls.Params.model_validate(merged)
        return self

    @property
    def detector_class(self) -> type[Detector]:
        return DETECTOR_KINDS[self.kind]

    @property
    def resolved_params(self) -> DetectorParams:
        """Params with the guards folded in, validated."""
        return self._resolved

    def build(self) -> Detector:
        """A fresh detector of this spec."""
        return self.detector_class(self._resolved)


class Limits(_Frozen):
    """Bounds on what traffic may make the registry create (memory is sized by config)."""

    max_models: int = Field(
        default=200, ge=1, le=1_000_000, description="Distinct (model, version)."
    )
    max_features_per_model: int = Field(default=100, ge=1, le=100_000)
    max_detectors: int = Field(default=20_000, ge=1, le=10_000_000)


def _budgeted(kind: str) -> DetectorSpec:
    """A budgeted kind with its default windows and the cooldown of config/detectors.yaml."""
    return DetectorSpec(kind=kind, cooldown=1000)


class Defaults(_Frozen):
    """Detectors per feature type when no override matches: the budgeted kinds by default."""

    numeric: list[DetectorSpec] = Field(default_factory=lambda: [_budgeted("rank_window")])
    categorical: list[DetectorSpec] = Field(default_factory=lambda: [_budgeted("category_window")])
    score: list[DetectorSpec] = Field(default_factory=lambda: [_budgeted("rank_window")])
    prediction: list[DetectorSpec] = Field(default_factory=lambda: [_budgeted("category_window")])
    missing: list[DetectorSpec] = Field(default_factory=lambda: [DetectorSpec(kind="missing_rate")])
    error: list[DetectorSpec] = Field(default_factory=lambda: [DetectorSpec(kind="hddm_a")])


class Override(_Frozen):
    """Detectors for streams matching globs; the first matching override wins."""

    model: str = Field(description="Glob on the model name, e.g. 'credit-*'.")
    feature: str = Field(default="*", description="Glob on the feature name.")
    type: FeatureType | None = Field(default=None, description="Only for this feature type.")
    detectors: list[DetectorSpec]

    def matches(self, model: str, feature: str, ftype: str) -> bool:
        return (
            (self.type is None or self.type == ftype)
            and fnmatch.fnmatchcase(model, self.model)
            and fnmatch.fnmatchcase(feature, self.feature)
        )


class DetectorSpecs(_Frozen):
    """All detector configuration, as loaded from ``config/detectors.yaml``.

    Examples
    --------
    >>> specs = DetectorSpecs.model_validate(
    ...     {"overrides": [{"model": "credit-*", "type": "numeric",
    ...                     "detectors": [{"kind": "page_hinkley", "params": {"threshold": 30}}]}]}
    ... )
    >>> [d.kind for d in specs.detectors_for("credit-risk", "age", "numeric")]
    ['page_hinkley']
    >>> [d.kind for d in specs.detectors_for("fraud", "age", "numeric")]
    ['rank_window']
    """

    version: int = 1
    limits: Limits = Field(default_factory=lambda: Limits())
    defaults: Defaults = Field(default_factory=lambda: Defaults())
    overrides: list[Override] = Field(default_factory=list)
    budget: AlarmBudget = Field(
        default_factory=lambda: AlarmBudget(),
        description="False-alarm budget of the budgeted kinds (rank_window).",
    )
    segments: list[SegmentSpec] = Field(
        default_factory=list,
        max_length=10,
        description="Drift per segment: tenant, metadata.<key> or protected.<attribute>.",
    )
    references: dict[str, ReferenceProfile] = Field(
        default_factory=dict,
        max_length=200,
        description="Reference profile per model name (PUT /v1/models/{name}/reference).",
    )
    statistic_every: int = Field(
        default=256,
        ge=1,
        le=1_000_000,
        description="Values between two updates of the statistic gauge.",
    )

    @model_validator(mode="after")
    def _kinds_fit_types(self) -> Self:
        problems: list[str] = []
        for ftype, input_type in INPUT_OF.items():
            for spec in getattr(self.defaults, ftype):
                if spec.detector_class.input_type != input_type:
                    takes = spec.detector_class.input_type
                    problems.append(f"defaults.{ftype}: {spec.kind} takes {takes} values")
        for i, override in enumerate(self.overrides):
            if override.type is None:
                continue
            for spec in override.detectors:
                if spec.detector_class.input_type != INPUT_OF[override.type]:
                    problems.append(f"overrides[{i}]: {spec.kind} cannot watch {override.type}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def detectors_for(self, model: str, feature: str, ftype: str) -> list[DetectorSpec]:
        """Specs for one stream: the first matching override of a compatible kind, else defaults."""
        input_type = INPUT_OF[ftype]
        for override in self.overrides:
            if override.matches(model, feature, ftype):
                fitting = [
                    s for s in override.detectors if s.detector_class.input_type == input_type
                ]
                if fitting:
                    return fitting
        specs: list[DetectorSpec] = getattr(self.defaults, ftype)
        return specs

    @classmethod
    def from_yaml(cls, text: str) -> DetectorSpecs:
        """Parse and validate YAML text."""
        data = yaml.safe_load(text) or {}
        return cls.model_validate(data)

    @classmethod
    def load(cls, path: Path | str = DEFAULT_PATH) -> DetectorSpecs:
        """Load and validate a YAML file (the shipped defaults if no path is given)."""
        return cls.from_yaml(Path(path).read_text(encoding="utf-8"))
