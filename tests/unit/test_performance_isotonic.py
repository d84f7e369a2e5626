"""The numpy isotonic fit gives scikit-learn's thresholds (it replaced importing scikit-learn)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression

from detectors.performance.calibration import Calibrator, isotonic_thresholds


def _sklearn(raw: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, target)
    return iso.X_thresholds_, iso.y_thresholds_


@pytest.mark.parametrize("seed", range(40))
def test_thresholds_equal_scikit_learns(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 3000))
    # Rounded scores: many ties (equal x pooled); labels from a miscalibrated curve.
    raw = np.round(rng.random(n), int(rng.integers(1, 5)))
    labels = (rng.random(n) < raw ** float(rng.uniform(0.3, 3.0))).astype(np.float64)
    x, y = isotonic_thresholds(raw, labels)
    want_x, want_y = _sklearn(raw, labels)
    assert len(x) == len(want_x)
    np.testing.assert_allclose(x, want_x, rtol=0, atol=1e-12)
    np.testing.assert_allclose(y, want_y, rtol=0, atol=1e-9)


def test_constant_and_decreasing_inputs() -> None:
    raw = np.array([0.9, 0.8, 0.7, 0.6])
    for labels in (np.ones(4), np.zeros(4), np.array([1.0, 1.0, 0.0, 0.0])):
        x, y = isotonic_thresholds(raw, labels)
        want_x, want_y = _sklearn(raw, labels)
        np.testing.assert_allclose(x, want_x)
        np.testing.assert_allclose(y, want_y)


def test_calibrator_applies_the_fit_like_scikit_learn() -> None:
    rng = np.random.default_rng(7)
    raw = rng.random(2000)
    labels = rng.random(2000) < raw**2
    cal = Calibrator.fit(raw, labels, "isotonic")
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
        raw, labels.astype(np.float64)
    )
    probe = np.linspace(-0.1, 1.1, 500)
    np.testing.assert_allclose(cal.apply(probe), iso.predict(probe), atol=1e-9)
