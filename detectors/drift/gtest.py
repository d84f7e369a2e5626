"""The G-test of homogeneity of two count vectors, as a one-sided normal score."""

from __future__ import annotations

import numpy as np
from scipy.special import chdtrc, ndtri

#: Scores beyond this are all "certainly a change" (p below ~1e-300).
_Z_MAX = 37.0


def g_score(ref: np.ndarray, win: np.ndarray, min_expected: float) -> float:
    """One-sided normal score of the G-test of homogeneity of two count vectors."""
    n_ref, n_win = float(ref.sum()), float(win.sum())
    total = n_ref + n_win
    if n_ref == 0 or n_win == 0:
        return 0.0
    col = ref + win
    present = col > 0
    rare = (col * (n_win / total) < min_expected) & present
    if rare.any():
        keep = present & ~rare
        r = np.append(ref[keep], ref[rare].sum())
        c = np.append(win[keep], win[rare].sum())
    else:
        r, c = ref[present], win[present]
    df = r.shape[0] - 1
    if df < 1:
        return 0.0
    col = (r + c).astype(np.float64)
    g = 0.0
    for observed, n in ((r, n_ref), (c, n_win)):
        expected = col * (n / total)
        hit = observed > 0
        seen = observed[hit]
        g += 2.0 * float((seen * np.log(seen / expected[hit])).sum())
    p = float(chdtrc(df, max(g, 0.0)))
    if p <= 0.0:
        return _Z_MAX
    # min/max rather than np.clip on one number: the same value, a fraction of the cost
    return min(max(float(-ndtri(p)), -_Z_MAX), _Z_MAX)
