"""Fairness metrics from per-group counts, exactly as Fairlearn 0.15 defines them.

Fairlearn computes on arrays; a stream keeps counts. These functions give the
same numbers from :class:`~detectors.fairness.window.GroupTally` counters
(``method="between_groups"``, ``agg="worst_case"``), including Fairlearn's edge
cases, which the tests check against Fairlearn itself:

- Only groups present in the data take part (a configured group with no events
  in the window is absent, as it would be from a ``MetricFrame``). For TPR and
  FPR, only groups with at least one *labelled* event take part.
- A group with no positive labels has TPR 0.0, and one with no negative labels
  FPR 0.0 (scikit-learn's ``confusion_matrix(normalize="true")`` turns 0/0 into 0).
- ``*_difference`` is ``max - min`` (0.0 with one group); the ratio is
  ``min / max``, NaN when the largest rate is 0 (0/0). With no group at all
  every metric is NaN.

Verdicts use per-group Wilson score intervals (see :func:`assess`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Literal, Protocol

from detectors.fairness.config import LOWER_IS_WORSE

NAN = float("nan")

RateName = Literal["selection_rate", "true_positive_rate", "false_positive_rate"]
Evidence = Literal["breach", "within", "inconclusive", "insufficient"]


class Counts(Protocol):
    """What the metrics read from a group's tally."""

    @property
    def n(self) -> int: ...
    @property
    def selected(self) -> int: ...
    @property
    def tp(self) -> int: ...
    @property
    def fn(self) -> int: ...
    @property
    def fp(self) -> int: ...
    @property
    def tn(self) -> int: ...


# --------------------------------------------------------------------------- rates
def _selection(c: Counts) -> tuple[int, int]:
    return c.selected, c.n


def _tpr(c: Counts) -> tuple[int, int]:
    return c.tp, c.tp + c.fn


def _fpr(c: Counts) -> tuple[int, int]:
    return c.fp, c.fp + c.tn


def _present(c: Counts, rate: RateName) -> bool:
    if rate == "selection_rate":
        return c.n > 0
    return c.tp + c.fn + c.fp + c.tn > 0


RATE_PARTS: dict[RateName, Callable[[Counts], tuple[int, int]]] = {
    "selection_rate": _selection,
    "true_positive_rate": _tpr,
    "false_positive_rate": _fpr,
}


def group_rates(groups: Mapping[str, Counts], rate: RateName) -> dict[str, float]:
    """Per-group rate for the groups Fairlearn's ``MetricFrame.by_group`` would list."""
    parts = RATE_PARTS[rate]
    rates: dict[str, float] = {}
    for label, counts in groups.items():
        if not _present(counts, rate):
            continue
        hits, total = parts(counts)
        rates[label] = hits / total if total else 0.0
    return rates


def difference(rates: Mapping[str, float]) -> float:
    """``MetricFrame.difference(method="between_groups")`` of one rate."""
    if not rates:
        return NAN
    return max(rates.values()) - min(rates.values())


def ratio(rates: Mapping[str, float]) -> float:
    """``MetricFrame.ratio(method="between_groups")``: ``min / max``, NaN if ``max == 0``."""
    if not rates:
        return NAN
    top = max(rates.values())
    return min(rates.values()) / top if top else NAN


def demographic_parity_difference(groups: Mapping[str, Counts]) -> float:
    return difference(group_rates(groups, "selection_rate"))


def demographic_parity_ratio(groups: Mapping[str, Counts]) -> float:
    return ratio(group_rates(groups, "selection_rate"))


def equal_opportunity_difference(groups: Mapping[str, Counts]) -> float:
    return difference(group_rates(groups, "true_positive_rate"))


def equalized_odds_difference(groups: Mapping[str, Counts]) -> float:
    """Worst case of the TPR and FPR differences (Fairlearn's default ``agg``)."""
    return max(
        difference(group_rates(groups, "true_positive_rate")),
        difference(group_rates(groups, "false_positive_rate")),
    )


METRICS: dict[str, Callable[[Mapping[str, Counts]], float]] = {
    "demographic_parity_difference": demographic_parity_difference,
    "demographic_parity_ratio": demographic_parity_ratio,
    "equal_opportunity_difference": equal_opportunity_difference,
    "equalized_odds_difference": equalized_odds_difference,
}

#: The rates each metric is built from (both must agree for equalized odds).
METRIC_RATES: dict[str, tuple[RateName, ...]] = {
    "demographic_parity_difference": ("selection_rate",),
    "demographic_parity_ratio": ("selection_rate",),
    "equal_opportunity_difference": ("true_positive_rate",),
    "equalized_odds_difference": ("true_positive_rate", "false_positive_rate"),
}


# --------------------------------------------------------------------------- confidence
@lru_cache(maxsize=16)
def z_score(confidence: float) -> float:
    """Two-sided standard normal quantile, e.g. 1.95996... for 0.95."""
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


@dataclass(frozen=True, slots=True)
class RateEstimate:
    """A group's rate with its Wilson score interval."""

    hits: int
    total: int
    value: float
    lower: float
    upper: float


def wilson_interval(hits: int, total: int, z: float) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion; ``(0, 1)`` when ``total == 0``.

    Chosen over the normal (Wald) interval because it stays inside [0, 1] and
    keeps its coverage near rates of 0 or 1 and for small groups, which is where
    fairness verdicts are most often wrong.

    Examples
    --------
    >>> lo, hi = wilson_interval(0, 10, z_score(0.95))
    >>> (lo, round(hi, 4))
    (0.0, 0.2775)
    """
    if total <= 0:
        return 0.0, 1.0
    p = hits / total
    z2 = z * z
    denom = 1.0 + z2 / total
    centre = (p + z2 / (2.0 * total)) / denom
    half = z * math.sqrt(p * (1.0 - p) / total + z2 / (4.0 * total * total)) / denom
    lower = 0.0 if hits == 0 else max(0.0, centre - half)
    upper = 1.0 if hits == total else min(1.0, centre + half)
    return lower, upper


def estimate(counts: Counts, rate: RateName, z: float) -> RateEstimate:
    hits, total = RATE_PARTS[rate](counts)
    lower, upper = wilson_interval(hits, total, z)
    return RateEstimate(hits, total, hits / total if total else 0.0, lower, upper)


def _assess_rate(
    estimates: Sequence[RateEstimate], lower_is_worse: bool, threshold: float, by_estimate: bool
) -> Evidence:
    """Evidence from one rate over the groups eligible for a verdict.

    Differences (higher is worse): breach when ``max(lower) - min(upper) >
    threshold`` -- some pair of groups differs by more than the threshold even
    at the near ends of their intervals; within when ``max(upper) - min(lower)
    <= threshold``. Ratio (lower is worse): breach when ``min(upper) /
    max(lower) < threshold``; within when ``min(lower) / max(upper) >=
    threshold``. With ``by_estimate`` the within test uses the point rates.
    """
    if len(estimates) < 2:
        return "insufficient"
    lowers = [e.lower for e in estimates]
    uppers = [e.upper for e in estimates]
    values = [e.value for e in estimates]
    if lower_is_worse:
        best_lower = max(lowers)
        breach = best_lower > 0.0 and min(uppers) / best_lower < threshold
        if by_estimate:
            top = max(values)
            within = top > 0.0 and min(values) / top >= threshold
        else:
            within = min(lowers) / max(uppers) >= threshold
    else:
        breach = max(lowers) - min(uppers) > threshold
        spread = max(values) - min(values) if by_estimate else max(uppers) - min(lowers)
        within = spread <= threshold
    if breach:
        return "breach"
    return "within" if within else "inconclusive"


def assess(
    metric: str,
    groups: Mapping[str, Counts],
    *,
    threshold: float,
    z: float,
    min_group_size: int,
    clear_on: Literal["confident", "estimate"] = "estimate",
) -> Evidence:
    """Say whether ``metric`` is past ``threshold`` with confidence, within it, or unknown.

    Only groups with at least ``min_group_size`` events in the rate's
    denominator take part; fewer than two such groups gives ``"insufficient"``.
    Each group's interval is at the configured level, so a pairwise verdict is
    conservative. ``equalized_odds_difference`` breaches when either its TPR or
    its FPR part does, and is within only when both are.
    """
    verdicts: list[Evidence] = []
    for rate in METRIC_RATES[metric]:
        eligible = [
            est
            for est in (estimate(c, rate, z) for c in groups.values())
            if est.total >= min_group_size
        ]
        verdicts.append(
            _assess_rate(eligible, metric in LOWER_IS_WORSE, threshold, clear_on == "estimate")
        )
    if "breach" in verdicts:
        return "breach"
    if all(v == "within" for v in verdicts):
        return "within"
    if all(v == "insufficient" for v in verdicts):
        return "insufficient"
    return "inconclusive"
