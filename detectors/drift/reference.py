"""Reference profiles: what a model's features looked like in training (or any time range).

An admin uploads a profile per model (``PUT /v1/models/{name}/reference``, kept
in the detector specs, so it is versioned, audited and applied by every
replica). Per feature it holds a quantile sketch or a histogram (numeric) or
category frequencies, never raw rows. Budgeted numeric detectors
(``rank_window``) then test their window against a pseudo-sample drawn from
the profile (its inverse CDF at evenly spaced probabilities) instead of the
values that preceded the window.

Sizes are bounded so a profile fits a config document: 100 features, 101
quantiles or histogram edges, 100 categories per feature.
"""

from __future__ import annotations

import math
from typing import Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from detectors.base import Detector

MAX_FEATURES = 100
MAX_POINTS = 101
MAX_CATEGORIES = 100


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _finite(values: list[float], name: str) -> None:
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name} must be finite numbers")


class QuantileSketch(_Frozen):
    """Quantiles of a numeric feature: ``values[i]`` is the ``probs[i]`` quantile."""

    probs: list[float] = Field(min_length=2, max_length=MAX_POINTS)
    values: list[float] = Field(min_length=2, max_length=MAX_POINTS)

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if len(self.probs) != len(self.values):
            raise ValueError("probs and values must have the same length")
        _finite(self.values, "values")
        if not all(0.0 <= p <= 1.0 for p in self.probs):
            raise ValueError("probs must lie in [0, 1]")
        if any(b <= a for a, b in zip(self.probs, self.probs[1:], strict=False)):
            raise ValueError("probs must be strictly increasing")
        if any(b < a for a, b in zip(self.values, self.values[1:], strict=False)):
            raise ValueError("values must be non-decreasing")
        return self


class Histogram(_Frozen):
    """A histogram of a numeric feature: ``counts[i]`` values in ``[edges[i], edges[i+1])``."""

    edges: list[float] = Field(min_length=2, max_length=MAX_POINTS)
    counts: list[float] = Field(min_length=1, max_length=MAX_POINTS - 1)

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if len(self.counts) != len(self.edges) - 1:
            raise ValueError("counts must have one entry fewer than edges")
        _finite(self.edges, "edges")
        _finite(self.counts, "counts")
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError("edges must be strictly increasing")
        if min(self.counts) < 0 or sum(self.counts) <= 0:
            raise ValueError("counts must be non-negative with a positive sum")
        return self


class FeatureReference(_Frozen):
    """One feature's reference: exactly one of quantiles, histogram, categories."""

    quantiles: QuantileSketch | None = None
    histogram: Histogram | None = None
    categories: dict[str, float] | None = Field(default=None, max_length=MAX_CATEGORIES)
    count: int | None = Field(default=None, ge=1, description="Values the profile summarises.")

    @model_validator(mode="after")
    def _one(self) -> Self:
        given = [k for k in ("quantiles", "histogram", "categories") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of quantiles, histogram, categories")
        if self.categories is not None:
            freqs = list(self.categories.values())
            _finite(freqs, "categories")
            if min(freqs) < 0 or sum(freqs) <= 0:
                raise ValueError("category frequencies must be non-negative with a positive sum")
            if any(len(k) > 256 for k in self.categories):
                raise ValueError("category names must be at most 256 characters")
        return self

    def sample(self, n: int) -> np.ndarray | None:
        """``n`` values with this reference's distribution (numeric only), sorted."""
        probs = (np.arange(n) + 0.5) / n
        if self.quantiles is not None:
            q = self.quantiles
            return np.interp(probs, q.probs, q.values)
        if self.histogram is not None:
            h = self.histogram
            cdf = np.concatenate([[0.0], np.cumsum(h.counts)]) / sum(h.counts)
            return np.interp(probs, cdf, h.edges)
        return None


class ReferenceProfile(_Frozen):
    """A model's reference profile, as uploaded.

    Examples
    --------
    >>> profile = ReferenceProfile.model_validate({"source": "training-2026-10", "features": {
    ...     "age": {"quantiles": {"probs": [0, 0.5, 1], "values": [18, 40, 90]}},
    ...     "country": {"categories": {"DE": 0.6, "FR": 0.4}}}})
    >>> profile.features["age"].sample(4).tolist()
    [23.5, 34.5, 52.5, 77.5]
    """

    source: str = Field(default="upload", min_length=1, max_length=128)
    features: dict[str, FeatureReference] = Field(min_length=1, max_length=MAX_FEATURES)


def pin_from_profile(detector: Detector, profile: ReferenceProfile | None, feature: str) -> bool:
    """Make a detector that can take a pinned reference test against the profile's feature.

    Returns whether it did. Without a profile (or with none for this feature) a
    detector pinned earlier goes back to its own reference.
    """
    pin = getattr(detector, "pin_reference", None)
    if pin is None:
        return False
    ref = profile.features.get(feature) if profile is not None else None
    pin(ref.sample(getattr(detector.params, "reference_size", 2000)) if ref else None)
    return ref is not None
