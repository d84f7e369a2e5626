"""CBPE estimator against a direct numpy computation of the expected confusion matrix."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from detectors.performance import cbpe
from detectors.performance.calibration import Calibrator

Z95 = 1.959963984540054


def _window(n: int = 3000, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.beta(2.0, 3.0, n)
    return scores, scores >= 0.4


def test_estimates_equal_the_expected_confusion_matrix() -> None:
    p, pred = _window()
    # E[TP] = sum of P(y=1) over predicted positives, and so on, written out element-wise.
    tp = sum(pi for pi, yi in zip(p, pred, strict=True) if yi)
    fp = sum(1 - pi for pi, yi in zip(p, pred, strict=True) if yi)
    fn = sum(pi for pi, yi in zip(p, pred, strict=True) if not yi)
    tn = sum(1 - pi for pi, yi in zip(p, pred, strict=True) if not yi)
    est = cbpe.estimate(p, p, pred, Z95)
    assert est["accuracy"].value == pytest.approx((tp + tn) / len(p), abs=1e-12)
    assert est["precision"].value == pytest.approx(tp / (tp + fp), abs=1e-12)
    assert est["recall"].value == pytest.approx(tp / (tp + fn), abs=1e-12)
    assert est["f1"].value == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-12)
    assert cbpe.expected_confusion(p, pred) == pytest.approx(
        {"tp": tp, "fp": fp, "fn": fn, "tn": tn}, abs=1e-9
    )


def test_estimates_match_the_mean_of_realized_values_over_simulated_labels() -> None:
    p, pred = _window(n=1000)
    est = cbpe.estimate(p, p, pred, Z95)
    rng = np.random.default_rng(11)
    draws = {m: [] for m in cbpe.METRICS}
    covered = dict.fromkeys(cbpe.METRICS, 0)
    trials = 200
    for _ in range(trials):
        y = rng.random(len(p)) < p
        real = cbpe.realized(y, pred, p, Z95)
        for m in cbpe.METRICS:
            value = real[m].value
            assert value is not None
            draws[m].append(value)
            lower, upper = est[m].lower, est[m].upper
            assert lower is not None and upper is not None
            covered[m] += lower <= value <= upper
    for m in cbpe.METRICS:
        # ratio metrics are biased by O(1/n) only
        assert np.mean(draws[m]) == pytest.approx(est[m].value, abs=0.005), m
    for m in ("accuracy", "precision", "recall", "f1"):
        assert 0.91 <= covered[m] / trials <= 0.99, (m, covered[m])
    # Hanley-McNeil assumes independent scores of fixed classes: it is conservative here.
    assert covered["roc_auc"] / trials >= 0.91


def test_roc_auc_estimate_is_the_expected_curve_along_raw_scores() -> None:
    p, _ = _window(n=500)
    # Perfectly calibrated scores and a ranking by those scores: the ROC curve of expected
    # counts, computed point by point.
    order = np.argsort(-p)
    tps = np.concatenate(([0.0], np.cumsum(p[order])))
    fps = np.concatenate(([0.0], np.cumsum(1 - p[order])))
    expected = np.trapezoid(tps / tps[-1], fps / fps[-1])
    assert cbpe.estimate_roc_auc(p, p) == pytest.approx(expected, abs=1e-12)


def test_realized_roc_auc_agrees_with_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(3)
    raw = np.round(rng.random(800), 1)  # many ties
    y = rng.random(800) < raw
    real = cbpe.realized(y, raw >= 0.5, raw, Z95)
    assert real["roc_auc"].value == pytest.approx(roc_auc_score(y, raw), abs=1e-12)


@pytest.mark.parametrize(
    "labels, predicted, missing",
    [
        ([1, 1, 1, 1], [1, 0, 1, 0], {"roc_auc"}),
        ([0, 0, 0, 0], [1, 0, 1, 0], {"recall", "roc_auc"}),
        ([0, 0, 0, 0], [0, 0, 0, 0], {"precision", "recall", "f1", "roc_auc"}),
        ([], [], {"accuracy", "precision", "recall", "f1", "roc_auc"}),
    ],
)
def test_realized_with_one_class_answers_what_it_can_and_says_why_not(
    labels: list[int], predicted: list[int], missing: set[str]
) -> None:
    y = np.array(labels, dtype=bool)
    real = cbpe.realized(y, np.array(predicted, dtype=bool), np.full(len(y), 0.5), Z95)
    assert {m for m, e in real.items() if e.value is None} == missing
    assert all(real[m].reason for m in missing)


def test_estimate_of_an_empty_or_one_sided_window_says_why() -> None:
    est = cbpe.estimate(np.empty(0), np.empty(0), np.empty(0, dtype=bool), Z95)
    assert all(e.value is None and e.reason for e in est.values())
    zeros = np.zeros(10)
    est = cbpe.estimate(zeros, zeros, np.zeros(10, dtype=bool), Z95)
    assert est["accuracy"].value == 1.0
    assert est["precision"].value is None and est["roc_auc"].value is None


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibration_recovers_the_true_probability(method: str) -> None:
    rng = np.random.default_rng(5)
    raw = rng.random(5000)
    y = rng.random(5000) < raw**2  # over-confident model
    cal = Calibrator.fit(raw, y, method)  # type: ignore[arg-type]
    grid = np.linspace(0.05, 0.95, 19)
    # isotonic is a step function: compare on average over the range, not point by point
    assert float(np.mean(np.abs(cal.apply(grid) - grid**2))) < 0.03
    assert float(np.mean(np.abs(raw - raw**2))) > 0.15  # what no calibration would cost
    restored = Calibrator.from_dict(cal.as_dict())
    assert restored.apply(grid) == pytest.approx(cal.apply(grid), abs=1e-12)


@pytest.mark.parametrize(
    "saved",
    [
        {"method": "magic"},
        {"method": "isotonic", "x": [0.1], "y": []},
        {"method": "platt", "x": [1.0]},
        {"method": "platt", "x": [float("nan"), 0.0]},
    ],
)
def test_a_malformed_calibrator_checkpoint_is_refused(saved: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Calibrator.from_dict(saved)
