"""Distances users know, between a reference sample and a window: PSI, Jensen–Shannon,
Wasserstein-1 and Kolmogorov–Smirnov.

They are reported with a budgeted detection (the decision itself is the
calibrated rank test of :mod:`detectors.drift.rank_window`); bins for PSI and
Jensen–Shannon are the reference's deciles, so they work for any scale.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-4


def _shares(ref_sorted: np.ndarray, window: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    edges = np.unique(np.quantile(ref_sorted, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    ref_counts = np.bincount(np.searchsorted(edges, ref_sorted, "right"), minlength=edges.size + 1)
    win_counts = np.bincount(np.searchsorted(edges, window, "right"), minlength=edges.size + 1)
    p = ref_counts / ref_counts.sum() + _EPS
    q = win_counts / win_counts.sum() + _EPS
    return p / p.sum(), q / q.sum()


def distances(ref_sorted: np.ndarray, window: np.ndarray, bins: int = 10) -> dict[str, float]:
    """PSI, Jensen–Shannon (base 2), Wasserstein-1 and KS of ``window`` against the reference.

    Examples
    --------
    >>> ref = np.sort(np.random.default_rng(0).normal(0, 1, 2000))
    >>> same = distances(ref, np.random.default_rng(1).normal(0, 1, 500))
    >>> moved = distances(ref, np.random.default_rng(1).normal(1, 1, 500))
    >>> all(moved[k] > 3 * same[k] for k in ("psi", "jensen_shannon", "wasserstein", "ks"))
    True
    """
    p, q = _shares(ref_sorted, window, bins)
    m = (p + q) / 2
    js = float(0.5 * np.sum(p * np.log2(p / m)) + 0.5 * np.sum(q * np.log2(q / m)))
    psi = float(np.sum((q - p) * np.log(q / p)))
    probs = np.linspace(0.0, 1.0, 101)
    gaps = np.quantile(ref_sorted, probs) - np.quantile(window, probs)
    wasserstein = float(np.mean(np.abs(gaps)))
    win_sorted = np.sort(window)
    grid = np.concatenate([ref_sorted, win_sorted])
    f_ref = np.searchsorted(ref_sorted, grid, "right") / ref_sorted.size
    f_win = np.searchsorted(win_sorted, grid, "right") / win_sorted.size
    ks = float(np.max(np.abs(f_ref - f_win)))
    return {"psi": psi, "jensen_shannon": js, "wasserstein": wasserstein, "ks": ks}
