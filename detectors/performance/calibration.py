"""Score calibration fitted on joined labels: isotonic or Platt.

CBPE needs calibrated scores (a score of 0.8 must be right 80% of the time).
Most models' scores are not, so the monitor fits a calibrator on the
``(raw score, label)`` pairs that labels join, refits it as more arrive, and
maps every raw score through it. Until enough labels of both classes exist the
scores are taken as calibrated (``method="identity"``) and the answer says so.

A fitted calibrator is a piecewise-linear map (isotonic: its thresholds; Platt:
two coefficients), so applying and checkpointing it needs numpy only. The isotonic
fit is :func:`isotonic_thresholds` (pool adjacent violators, the thresholds
scikit-learn's ``IsotonicRegression(y_min=0, y_max=1)`` keeps; a test compares them):
importing scikit-learn for it cost each Guardian process about 100 MiB (scikit-learn,
scipy.stats, pandas).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

Method = Literal["identity", "isotonic", "platt"]
_EPS = 1e-6


def isotonic_thresholds(
    raw: NDArray[np.float64], target: NDArray[np.float64]
) -> tuple[list[float], list[float]]:
    """The increasing isotonic fit of ``target`` on ``raw``, clipped to [0, 1], as thresholds.

    Pool adjacent violators on the weighted means of equal ``raw`` values, then
    the interior points of constant runs dropped: the ``X_thresholds_`` and
    ``y_thresholds_`` of scikit-learn's ``IsotonicRegression(y_min=0.0, y_max=1.0)``
    (equal x are those less than float64's resolution apart, as there).

    Examples
    --------
    >>> isotonic_thresholds(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.0, 1.0, 0.0, 1.0]))
    ([0.1, 0.2, 0.3, 0.4], [0.0, 0.5, 0.5, 1.0])
    """
    order = np.lexsort((target, raw))
    xs, ys = raw[order].tolist(), target[order].tolist()
    eps = float(np.finfo(np.float64).resolution)
    # Equal x: one point, the mean of their targets, weighted by their count.
    ux: list[float] = []
    blocks: list[list[float]] = []  # [sum of targets, weight, points] per pooled block
    for x, y in zip(xs, ys, strict=True):
        if ux and x - ux[-1] < eps:
            blocks[-1][0] += y
            blocks[-1][1] += 1.0
        else:
            ux.append(x)
            blocks.append([y, 1.0, 1.0])
    pooled: list[list[float]] = []
    for block in blocks:
        while pooled and pooled[-1][0] / pooled[-1][1] >= block[0] / block[1]:
            last = pooled.pop()
            block = [last[0] + block[0], last[1] + block[1], last[2] + block[2]]
        pooled.append(block)
    uy = [min(1.0, max(0.0, total / weight)) for total, weight, n in pooled for _ in range(int(n))]
    keep = [
        i in (0, len(uy) - 1) or uy[i] != uy[i - 1] or uy[i] != uy[i + 1] for i in range(len(uy))
    ]
    return [x for x, k in zip(ux, keep, strict=True) if k], [
        y for y, k in zip(uy, keep, strict=True) if k
    ]


@dataclass(slots=True)
class Calibrator:
    """A monotone map from raw scores to calibrated probabilities.

    Examples
    --------
    >>> cal = Calibrator()
    >>> cal.method, float(cal.apply(np.array([0.3]))[0])
    ('identity', 0.3)
    >>> rng = np.random.default_rng(0)
    >>> raw = rng.random(2000)
    >>> labels = rng.random(2000) < raw**2          # over-confident scores
    >>> cal = Calibrator.fit(raw, labels, "platt")
    >>> round(float(cal.apply(np.array([0.5]))[0]), 1)   # the truth is 0.25
    0.2
    """

    method: Method = "identity"
    #: isotonic: x and y of the thresholds; platt: [a, b] in sigmoid(a * logit(s) + b)
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    n_labels: int = 0

    @classmethod
    def fit(cls, raw: NDArray[np.float64], labels: NDArray[np.bool_], method: Method) -> Calibrator:
        """Fit on pairs with both classes present (the caller checks)."""
        if method == "isotonic":
            x, y = isotonic_thresholds(raw, labels.astype(np.float64))
            return cls("isotonic", x, y, len(raw))
        if method == "platt":
            a, b = _platt(raw, labels)
            return cls("platt", [a, b], [], len(raw))
        return cls("identity", n_labels=len(raw))

    def apply(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.method == "isotonic" and self.x:
            return np.interp(raw, self.x, self.y)
        if self.method == "platt" and len(self.x) == 2:
            a, b = self.x
            logit = np.log(np.clip(raw, _EPS, 1 - _EPS) / np.clip(1 - raw, _EPS, 1))
            return 1.0 / (1.0 + np.exp(-(a * logit + b)))
        return raw

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "x": self.x, "y": self.y, "n_labels": self.n_labels}

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> Calibrator:
        method = saved.get("method", "identity")
        if method not in ("identity", "isotonic", "platt"):
            raise ValueError(f"unknown calibration method {method!r}")
        x = [float(v) for v in saved.get("x", [])]
        y = [float(v) for v in saved.get("y", [])]
        if not all(math.isfinite(v) for v in x + y):
            raise ValueError("calibration state holds a non-finite number")
        if method == "isotonic" and (len(x) != len(y) or not x):
            raise ValueError("isotonic calibration needs as many x as y thresholds")
        if method == "platt" and len(x) != 2:
            raise ValueError("platt calibration needs two coefficients")
        return cls(method, x, y, int(saved.get("n_labels", 0)))


def _platt(raw: NDArray[np.float64], labels: NDArray[np.bool_]) -> tuple[float, float]:
    """Logistic regression of the label on ``logit(score)`` by Newton's method.

    Platt's smoothed targets keep the fit finite when the classes separate.
    """
    logit = np.log(np.clip(raw, _EPS, 1 - _EPS) / np.clip(1 - raw, _EPS, 1))
    n_pos = float(labels.sum())
    n_neg = float(len(labels) - n_pos)
    target = np.where(labels, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    a, b = 1.0, 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(a * logit + b)))
        w = p * (1 - p) + 1e-12
        grad = np.array([np.dot(p - target, logit), np.sum(p - target)])
        hess = np.array(
            [[np.dot(w, logit * logit), np.dot(w, logit)], [np.dot(w, logit), np.sum(w)]]
        )
        hess += np.eye(2) * 1e-9
        step = np.linalg.solve(hess, grad)
        a, b = a - float(step[0]), b - float(step[1])
        if float(np.abs(step).max()) < 1e-9:
            break
    return a, b
