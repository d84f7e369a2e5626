"""Why a drift alert fired, in words an on-call person can check.

A detection carries numbers only (:class:`~detectors.results.DriftResult`
``details``); :func:`describe` turns them into alert annotations naming the
feature, the segment, what it was compared with, the statistic against its
threshold, the calibrated false-alarm rate, and a before/after summary
(quantiles of the values, never a value itself).
"""

from __future__ import annotations

from detectors.base import Detector
from detectors.drift.segments import split_version
from detectors.results import DriftResult

#: Segment of a detection when drift is watched on the whole stream.
ALL_SEGMENTS = "all"


def explain_numbers(detector: Detector) -> dict[str, float]:
    """The numbers a detector gives about its last test (empty for kinds that give none)."""
    explain = getattr(detector, "explain", None)
    if explain is None:
        return {}
    numbers: dict[str, float] = explain()
    return numbers


def _quantiles(details: dict[str, float], side: str) -> str | None:
    keys = [f"{side}_p{q}" for q in (10, 50, 90)]
    if not all(k in details for k in keys):
        return None
    p10, p50, p90 = (details[k] for k in keys)
    return f"p10 {p10:.4g}, median {p50:.4g}, p90 {p90:.4g}"


def _shares(details: dict[str, float], side: str) -> str | None:
    """``#a1b2c3 20%, rare 5%``: the moved categories' shares, by hash prefix (never a value)."""
    parts = []
    for i in range(1, 4):
        ident = details.get(f"cat{i}_id")
        share = details.get(f"cat{i}_{side}")
        if ident is None or share is None:
            break
        name = "rare categories" if ident < 0 else f"category #{int(ident) >> 24:06x}"
        parts.append(f"{name} {share:.1%}")
    return ", ".join(parts) or None


def describe(result: DriftResult, segment: str | None = None) -> dict[str, str]:
    """Alert annotations explaining ``result``; only ``description`` for unexplained kinds.

    Examples
    --------
    >>> r = DriftResult("m", "1", "age", "rank_window", "m/1/age/rank_window", 1.3, at=0.0,
    ...     n_seen=5100, details={"score": 1.3, "threshold_z": 5.4, "alpha_per_test": 2.9e-7,
    ...     "alarm_rate_per_day": 0.01, "reference_size": 2000, "window_size": 200,
    ...     "before_p10": 1.0, "before_p50": 2.0, "before_p90": 3.0,
    ...     "after_p10": 2.0, "after_p50": 3.0, "after_p90": 4.0})
    >>> notes = describe(r)
    >>> notes["statistic"], notes["threshold"], notes["alarm_rate_per_day"]
    ('|z| = 7.02', '|z| > 5.4', '0.01')
    >>> notes["after"]
    'p10 2, median 3, p90 4'
    """
    if segment is None:
        segment = split_version(result.version)[1]
    d = result.details
    base = {"description": f"{result.detector} saw a change after {result.n_seen} values"}
    if "threshold_z" not in d:
        return base
    threshold = d["threshold_z"]
    kind = d.get("reference_kind", 0.0)
    if kind == 2.0:
        reference = "the model's uploaded reference profile"
    elif kind == 1.0:
        reference = f"the first {d.get('reference_size', 0):.0f} values of this model version"
    else:
        reference = (
            f"the {d.get('reference_size', 0):.0f} values before the latest "
            f"{d.get('window_size', 0):.0f}"
        )
    notes = {
        "feature": result.feature,
        "segment": segment,
        "reference": reference,
        "statistic": f"|z| = {d.get('score', 0.0) * threshold:.3g}",
        "threshold": f"|z| > {threshold:.3g}",
        "alarm_rate_per_day": f"{d.get('alarm_rate_per_day', 0.0):.3g}",
    }
    for name in ("psi", "jensen_shannon", "wasserstein", "ks"):
        if name in d:
            notes[name] = f"{d[name]:.3g}"
    before = _quantiles(d, "before") or _shares(d, "before")
    after = _quantiles(d, "after") or _shares(d, "after")
    if before and after:
        notes["before"], notes["after"] = before, after
    statistic = "G-test statistic" if result.detector == "category_window" else "rank statistic"
    summary = (
        f"{result.detector} saw a change after {result.n_seen} values: "
        f"{result.feature} (segment {segment}) changed against {reference}: "
        f"{statistic} {notes['statistic']} over the threshold {notes['threshold']} "
        f"set for {notes['alarm_rate_per_day']} false alarms per day"
    )
    if before and after:
        summary += f"; before {before}; after {after}"
    return {**base, **notes, "description": summary}
