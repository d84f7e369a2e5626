"""Confidence-based performance estimation (CBPE) for binary classifiers, in numpy.

With calibrated scores, the score of an event is the probability that its label
is positive, so the *expected* confusion matrix of a window is a sum of scores:

- ``TP = Σ p`` over predicted positives, ``FP = Σ (1 - p)`` over predicted positives,
- ``FN = Σ p`` over predicted negatives, ``TN = Σ (1 - p)`` over predicted negatives,

and accuracy, precision, recall and F1 follow from it (NannyML's ``estimate_*``
functions in ``performance_estimation/confidence_based/metrics.py``). ROC AUC
is estimated from the expected true and false positive counts swept along the
raw scores, as NannyML's ``estimate_roc_auc`` does.

Intervals: given calibrated scores, the realized confusion matrix is a sum of
independent Bernoulli draws, so each metric's spread around its estimate
follows from ``Var = Σ p (1 - p)`` by the delta method; ROC AUC uses the
Hanley–McNeil standard error with the expected class counts. They bound the
*realized* value of the window under correct calibration: they do not account
for calibration error, which the realized values (once labels join) reveal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Estimate:
    """One metric: its value and a two-sided interval, or ``None`` with the reason."""

    value: float | None
    lower: float | None = None
    upper: float | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, float | str | None]:
        out: dict[str, float | str | None] = {
            "value": self.value,
            "lower": self.lower,
            "upper": self.upper,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def _bounded(value: float, se: float, z: float) -> Estimate:
    return Estimate(value, max(0.0, value - z * se), min(1.0, value + z * se))


def _unavailable(reason: str) -> Estimate:
    return Estimate(None, reason=reason)


def expected_confusion(calibrated: FloatArray, predicted: NDArray[np.bool_]) -> dict[str, float]:
    """Expected TP, FP, FN, TN of a window under calibrated scores."""
    pos = calibrated[predicted]
    neg = calibrated[~predicted]
    return {
        "tp": float(pos.sum()),
        "fp": float(len(pos) - pos.sum()),
        "fn": float(neg.sum()),
        "tn": float(len(neg) - neg.sum()),
    }


def estimate_roc_auc(calibrated: FloatArray, raw: FloatArray) -> float:
    """Expected ROC AUC: the ROC curve of expected TP/FP counts along the raw score order."""
    order = np.argsort(-raw, kind="stable")
    sorted_raw = raw[order]
    p = calibrated[order]
    # Tied raw scores are one threshold: keep the last point of each run (as scikit-learn).
    last = np.concatenate((sorted_raw[1:] != sorted_raw[:-1], [True]))
    tps = np.concatenate(([0.0], np.cumsum(p)[last]))
    fps = np.concatenate(([0.0], np.cumsum(1.0 - p)[last]))
    tpr = tps / tps[-1]
    fpr = fps / fps[-1]
    return float(np.trapezoid(tpr, fpr))


def hanley_mcneil_se(auc: float, n_pos: float, n_neg: float) -> float:
    """Standard error of an AUC from ``n_pos`` positives and ``n_neg`` negatives."""
    q1 = auc / (2.0 - auc)
    q2 = 2.0 * auc * auc / (1.0 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (
        n_pos * n_neg
    )
    return math.sqrt(max(var, 0.0))


def estimate(
    calibrated: FloatArray, raw: FloatArray, predicted: NDArray[np.bool_], z: float
) -> dict[str, Estimate]:
    """CBPE estimates with intervals for one window (scores already validated in [0, 1])."""
    n = len(calibrated)
    if n == 0:
        return {m: _unavailable("no scored events in the window") for m in METRICS}
    var_each = calibrated * (1.0 - calibrated)
    cm = expected_confusion(calibrated, predicted)
    tp, fp, fn, tn = cm["tp"], cm["fp"], cm["fn"], cm["tn"]
    var_tp = float(var_each[predicted].sum())  # also Var(FP): FP = n_pp - TP
    var_fn = float(var_each[~predicted].sum())  # also Var(TN)
    out: dict[str, Estimate] = {}
    out["accuracy"] = _bounded((tp + tn) / n, math.sqrt(var_tp + var_fn) / n, z)
    n_pp = tp + fp
    if n_pp > 0:
        out["precision"] = _bounded(tp / n_pp, math.sqrt(var_tp) / n_pp, z)
    else:
        out["precision"] = _unavailable("no predicted positives in the window")
    actual_pos = tp + fn
    if actual_pos > 0:
        # R = TP / (TP + FN): dR/dTP = FN / (TP+FN)^2, dR/dFN = -TP / (TP+FN)^2
        se = math.sqrt(fn**2 * var_tp + tp**2 * var_fn) / actual_pos**2
        out["recall"] = _bounded(tp / actual_pos, se, z)
    else:
        out["recall"] = _unavailable("no expected positives in the window")
    denom = tp + n_pp + fn  # 2TP + FP + FN, with FP = n_pp - TP
    if denom > 0:
        # F1 = 2TP / (TP + n_pp + FN): dF/dTP = 2(n_pp+FN)/D^2, dF/dFN = -2TP/D^2
        se = 2.0 * math.sqrt((n_pp + fn) ** 2 * var_tp + tp**2 * var_fn) / denom**2
        out["f1"] = _bounded(2.0 * tp / denom, se, z)
    else:
        out["f1"] = _unavailable("no predicted or expected positives in the window")
    exp_pos, exp_neg = float(calibrated.sum()), float(n - calibrated.sum())
    if exp_pos > 0 and exp_neg > 0:
        auc = estimate_roc_auc(calibrated, raw)
        out["roc_auc"] = _bounded(auc, hanley_mcneil_se(auc, exp_pos, exp_neg), z)
    else:
        out["roc_auc"] = _unavailable("scores say every event has the same class")
    return out


def _roc_auc(labels: NDArray[np.bool_], raw: FloatArray) -> float:
    """Mann–Whitney ROC AUC (ties count one half), as scikit-learn's ``roc_auc_score``."""
    ranks = _average_ranks(raw)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _average_ranks(values: FloatArray) -> FloatArray:
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    starts = np.concatenate(([0], np.flatnonzero(sorted_values[1:] != sorted_values[:-1]) + 1))
    ends = np.concatenate((starts[1:], [len(values)]))
    for s, e in zip(starts, ends, strict=True):
        ranks[order[s:e]] = (s + e + 1) / 2.0  # mean of ranks s+1 .. e
    return ranks


def realized(
    labels: NDArray[np.bool_], predicted: NDArray[np.bool_], raw: FloatArray, z: float
) -> dict[str, Estimate]:
    """Realized metrics of the labelled events of a window, with Wilson-free normal intervals.

    A metric that cannot be computed (one class in the labels, no predicted
    positives) is answered with ``value=None`` and the reason.
    """
    n = len(labels)
    if n == 0:
        return {m: _unavailable("no joined labels in the window") for m in METRICS}
    tp = int((labels & predicted).sum())
    fp = int((~labels & predicted).sum())
    fn = int((labels & ~predicted).sum())
    tn = n - tp - fp - fn

    def proportion(k: int, total: int) -> Estimate:
        p = k / total
        return _bounded(p, math.sqrt(p * (1 - p) / total), z)

    out: dict[str, Estimate] = {"accuracy": proportion(tp + tn, n)}
    one_class = "labels hold one class only" if tp + fn == 0 or fp + tn == 0 else None
    out["precision"] = (
        proportion(tp, tp + fp) if tp + fp else _unavailable("no predicted positives")
    )
    out["recall"] = proportion(tp, tp + fn) if tp + fn else _unavailable("labels hold no positive")
    denom = 2 * tp + fp + fn
    out["f1"] = (
        Estimate(2 * tp / denom) if denom else _unavailable("no positive label or prediction")
    )
    if one_class is not None:
        out["roc_auc"] = _unavailable(one_class)
    else:
        auc = _roc_auc(labels, raw)
        out["roc_auc"] = _bounded(auc, hanley_mcneil_se(auc, tp + fn, fp + tn), z)
    return out
