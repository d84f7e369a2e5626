"""Rank statistics of a window against a reference, and a JSON-safe random state.

Ties are broken at random, so under "no change" each window value's rank is
uniform on ``0..len(reference)`` whatever the values' distribution (continuous,
counts, a spike of zeros): the null distribution of both statistics does not
depend on the stream's shape.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def rank_z(
    ref_sorted: np.ndarray, window: np.ndarray, rng: np.random.Generator
) -> tuple[float, float]:
    """(location z, scale z) of ``window`` ranked in ``ref_sorted``, ties broken at random."""
    n_ref, n_win = ref_sorted.shape[0], window.shape[0]
    lo = np.searchsorted(ref_sorted, window, "left")
    hi = np.searchsorted(ref_sorted, window, "right")
    ranks = lo + np.floor(rng.random(n_win) * (hi - lo + 1))
    loc = (ranks.sum() - n_win * n_ref / 2.0) / math.sqrt(
        n_win * n_ref * (n_win + n_ref + 1) / 12.0
    )
    m = n_ref + 1
    u = (ranks + 0.5) / m
    mean_sq = (m * m - 1) / (12.0 * m * m)
    spread = ((u - 0.5) ** 2).mean() - mean_sq
    scale = spread / math.sqrt((1.0 / 180.0) * (1.0 / n_win + 1.0 / n_ref))
    return float(loc), float(scale)


class SortedReference:
    """The sliding reference of a window test, kept sorted from one test to the next.

    Between two tests ``step`` values apart the reference loses its oldest ``step``
    values and gains the window's oldest ``step``. Writing the newcomers into the
    leavers' slots and sorting again with the adaptive stable sort (the array is
    sorted but for ``step`` entries) costs a fraction of sorting the whole
    reference from scratch at every test, and gives the same sorted array (equal
    values are interchangeable: only comparisons are read from it). The owner
    counts the values it appends in ``appended``; any other gap between two tests
    sorts afresh.
    """

    __slots__ = ("appended", "_at", "_ref", "_next")

    def __init__(self) -> None:
        self.appended = 0
        self._at = -1
        self._ref: np.ndarray | None = None
        #: the next test's leaving values (sorted), their offsets in runs of equal ones,
        #: and its joining values (sorted)
        self._next: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def slide(self, values: np.ndarray, reference_size: int, step: int) -> np.ndarray:
        """``np.sort(values[:reference_size])``, ``values`` the newest values, oldest first.

        The array returned is updated in place by the next call.
        """
        ref, moves = self._ref, self._next
        if (
            ref is not None
            and moves is not None
            and self.appended - self._at == step
            and ref.shape[0] == reference_size
        ):
            leaving, offsets, joining = moves
            # Equal leaving values take successive slots of their run in ``ref``.
            slots = ref.searchsorted(leaving)
            slots += offsets
            ref[slots] = joining
            ref.sort(kind="stable")
        else:
            ref = np.sort(values[:reference_size])
        self._ref, self._at = ref, self.appended
        self._next = None
        if step <= values.shape[0] - reference_size:
            leaving = np.sort(values[:step])
            offsets = np.arange(step) - leaving.searchsorted(leaving)
            self._next = (leaving, offsets, np.sort(values[reference_size : reference_size + step]))
        return ref


def bootstrap_spread(
    pool: np.ndarray, reference_size: int, bootstrap: int, block: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Spread (>= 1) of both :func:`rank_z` statistics on moving-block bootstrap streams.

    ``bootstrap`` streams as long as ``pool``, of blocks of ``block`` consecutive values
    (circularly) from random starts; each is split into a reference and a window.
    """
    cap = pool.shape[0]
    block = min(block, cap)
    n_blocks = -(-cap // block)
    starts = rng.integers(0, cap, size=(bootstrap, n_blocks))
    idx = ((starts[:, :, None] + np.arange(block)) % cap).reshape(bootstrap, -1)[:, :cap]
    sims = pool[idx]
    refs = np.sort(sims[:, :reference_size], axis=1)
    zs = np.array([rank_z(refs[b], sims[b, reference_size:], rng) for b in range(bootstrap)])
    spread = zs.std(axis=0)
    return (max(1.0, float(spread[0])), max(1.0, float(spread[1])))


def rng_words(rng: np.random.Generator) -> list[int]:
    """PCG64 state, increment and buffered half-word as ten 32-bit words (JSON integers)."""
    full = rng.bit_generator.state
    inner = full["state"]
    words: list[int] = []
    for big in (int(inner["state"]), int(inner["inc"])):
        words += [(big >> (32 * k)) & 0xFFFFFFFF for k in range(4)]
    return [*words, int(full["has_uint32"]), int(full["uinteger"]) & 0xFFFFFFFF]


def rng_from_words(words: Any) -> np.random.Generator:
    if not isinstance(words, list) or len(words) != 10:
        raise ValueError("rng state must be ten words")
    if not all(isinstance(w, int) and not isinstance(w, bool) and 0 <= w < 2**32 for w in words):
        raise ValueError("rng words must be 32-bit integers")
    state = sum(w << (32 * k) for k, w in enumerate(words[:4]))
    inc = sum(w << (32 * k) for k, w in enumerate(words[4:8]))
    bits = np.random.PCG64()
    bits.state = {
        "bit_generator": "PCG64",
        "state": {"state": state, "inc": inc},
        "has_uint32": words[8] & 1,
        "uinteger": words[9],
    }
    return np.random.Generator(bits)


def scale_skewness(n_ref: int, n_win: int) -> float:
    """Skewness of the standardised scale statistic of :func:`rank_z` under "no change".

    The statistic is a mean of ``(u - 1/2)**2`` over the window, ``u`` uniform;
    that square is right-skewed (third central moment 1/3780, variance 1/180),
    so the window mean is too, by ``0.64 / sqrt(n_win)``. At the critical values
    a budget asks for (|z| > 5) the normal approximation then underestimates
    the upper tail 2-3 times (1.6 times at z = 4, which simulation confirms).
    Only the window's part is counted (the reference's is 1% of it here and of
    the other sign), which leaves the correction slightly conservative.
    """
    variance = (1.0 / 180.0) * (1.0 / n_win + 1.0 / n_ref)
    return (1.0 / 3780.0) / (n_win * n_win) / math.pow(variance, 1.5)


def cornish_fisher(z: float, skew: float) -> float:
    """Upper critical value of a right-skewed statistic for the normal ``z``.

    First-order Cornish-Fisher expansion ``q = z + skew / 6 * (z**2 - 1)``. The
    lower tail of such a statistic is lighter than the normal one, so ``-z``
    stays its (conservative) lower critical value.

    Examples
    --------
    >>> round(cornish_fisher(5.26, 0.0388), 3)
    5.432
    """
    return z + skew / 6.0 * (z * z - 1.0)
