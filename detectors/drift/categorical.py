"""Categorical drift: a recent sliding window against a reference window.

For categorical features (strings, booleans) and ``outputs.prediction``.
River has no categorical drift detector, so this one is Guardian's own.

Design for the hot path and for retention rules:

- categories become small integer *slots* (at most ``max_categories``, the rest
  share one overflow slot); a slot is identified in exported state by a 48-bit
  BLAKE2b hash of the value, so windows and checkpoints hold numbers, never
  the category text;
- the recent window is a ring buffer of slots with per-slot counts, so an
  update is O(1); the distance and the test run every ``check_every`` values.

A detection requires both a distance past ``threshold`` (PSI or Jensen-Shannon,
effect size) and a chi-square test of homogeneity with p-value at most
``alpha`` (significance); bins with fewer than ``min_count`` values in both
windows together are pooled so the chi-square approximation holds. After a
detection a new reference is collected from the values that follow.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Hashable, Mapping
from typing import Any, Literal

from pydantic import Field
from scipy.special import chdtrc

from detectors.base import Detector, DetectorParams, StateValue, as_float


class CategoricalParams(DetectorParams):
    """Window sizes, test cadence and thresholds of the categorical detector."""

    reference_size: int = Field(default=1000, ge=10, le=1_000_000)
    window_size: int = Field(default=500, ge=10, le=1_000_000)
    check_every: int = Field(default=25, ge=1, le=1_000_000)
    distance: Literal["psi", "js"] = "psi"
    threshold: float = Field(default=0.1, gt=0.0, le=100.0, description="Distance needed to fire.")
    alpha: float = Field(
        default=1e-6, gt=0.0, lt=1.0, description="Chi-square p-value needed to fire."
    )
    min_count: int = Field(default=5, ge=1, le=1_000_000)
    max_categories: int = Field(default=64, ge=2, le=4096)


def category_hash(value: Hashable) -> int:
    """A stable 48-bit hash of a category (same on every replica and run)."""
    if isinstance(value, bool):
        text = f"b:{value}"
    elif isinstance(value, int | float):
        text = f"n:{float(value)!r}"
    else:
        text = f"s:{value}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=6).digest(), "big")


def distribution_distance(
    ref: list[int], cur: list[int], kind: str, min_count: int
) -> tuple[float, float]:
    """``(distance, chi-square p-value)`` between two count vectors over the same slots."""
    pooled_ref = pooled_cur = 0
    bins: list[tuple[int, int]] = []
    for r, c in zip(ref, cur, strict=True):
        if r + c < min_count:
            pooled_ref += r
            pooled_cur += c
        else:
            bins.append((r, c))
    if pooled_ref + pooled_cur:
        bins.append((pooled_ref, pooled_cur))
    n_ref = sum(r for r, _ in bins)
    n_cur = sum(c for _, c in bins)
    k = len(bins)
    if k < 2 or n_ref == 0 or n_cur == 0:
        return 0.0, 1.0
    total = n_ref + n_cur
    chi2 = 0.0
    distance = 0.0
    smooth = 0.5
    for r, c in bins:
        col = r + c
        e_r = col * n_ref / total
        e_c = col * n_cur / total
        chi2 += (r - e_r) ** 2 / e_r + (c - e_c) ** 2 / e_c
        p = (r + smooth) / (n_ref + smooth * k)
        q = (c + smooth) / (n_cur + smooth * k)
        if kind == "psi":
            distance += (q - p) * math.log(q / p)
        else:
            m = 0.5 * (p + q)
            distance += 0.5 * (p * math.log2(p / m) + q * math.log2(q / m))
    return distance, float(chdtrc(k - 1, chi2))


class CategoricalDetector(Detector):
    """Recent-vs-reference window test for categorical streams (PSI or JS plus chi-square).

    The statistic is the last computed distance.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(1)
    >>> det = CategoricalDetector()
    >>> before = rng.choices("abc", weights=[6, 3, 1], k=3000)
    >>> after = rng.choices("abc", weights=[3, 3, 4], k=3000)
    >>> hits = [i for i, x in enumerate(before + after) if det.update(x).drift_detected]
    >>> len(hits) == 1 and 3000 < hits[0] < 3300
    True
    """

    kind = "categorical"
    input_type = "categorical"
    Params = CategoricalParams

    __slots__ = (
        "_p",
        "_slot_of",
        "_slot_by_hash",
        "_hashes",
        "_ref",
        "_ref_n",
        "_cur",
        "_ring",
        "_pos",
        "_cur_n",
        "_tick",
        "_distance",
        "_p_value",
        "_overflow",
    )

    def _reset_state(self) -> None:
        p = self._params
        assert isinstance(p, CategoricalParams)
        self._p = p
        self._slot_of: dict[Hashable, int] = {}
        self._slot_by_hash: dict[int, int] = {}
        self._hashes: list[int] = []
        self._overflow = p.max_categories
        self._ref = [0] * (p.max_categories + 1)
        self._ref_n = 0
        self._cur = [0] * (p.max_categories + 1)
        self._ring = [0] * p.window_size
        self._pos = 0
        self._cur_n = 0
        self._tick = 0
        self._distance = 0.0
        self._p_value = 1.0

    def _slot(self, value: Hashable) -> int:
        h = category_hash(value)
        slot = self._slot_by_hash.get(h)
        if slot is None:
            if len(self._hashes) >= self._overflow:
                return self._overflow
            slot = len(self._hashes)
            self._hashes.append(h)
            self._slot_by_hash[h] = slot
        if len(self._slot_of) < 4 * self._overflow:
            self._slot_of[value] = slot
        return slot

    def _learn(self, x: Any) -> bool:
        slot = self._slot_of.get(x)
        if slot is None:
            slot = self._slot(x)
        p = self._p
        if self._ref_n < p.reference_size:
            self._ref[slot] += 1
            self._ref_n += 1
            return False
        cur = self._cur
        ring = self._ring
        pos = self._pos
        if self._cur_n == p.window_size:
            cur[ring[pos]] -= 1
        else:
            self._cur_n += 1
        ring[pos] = slot
        cur[slot] += 1
        self._pos = pos + 1 if pos + 1 < p.window_size else 0
        if self._cur_n < p.window_size:
            return False
        self._tick += 1
        if self._tick < p.check_every:
            return False
        self._tick = 0
        self._distance, self._p_value = distribution_distance(
            self._ref, cur, p.distance, p.min_count
        )
        if self._distance >= p.threshold and self._p_value <= p.alpha:
            self._rebaseline()
            return True
        return False

    def _rebaseline(self) -> None:
        """Start over: the next values form a new reference, then a new recent window.

        The recent window at detection time still mixes both regimes, so using
        it as the reference would fire a second time for the same change.
        """
        size = len(self._cur)
        self._ref = [0] * size
        self._ref_n = 0
        self._cur = [0] * size
        self._cur_n = 0
        self._pos = 0
        self._tick = 0

    def _statistic(self) -> float:
        return self._distance

    def _export(self) -> dict[str, StateValue]:
        return {
            "hashes": list(self._hashes),
            "ref": list(self._ref),
            "ref_n": self._ref_n,
            "ring": list(self._ring),
            "pos": self._pos,
            "cur_n": self._cur_n,
            "tick": self._tick,
            "distance": self._distance,
            "p_value": self._p_value,
        }

    def _import(self, state: Mapping[str, Any]) -> None:
        self._reset_state()
        p = self._params
        assert isinstance(p, CategoricalParams)
        hashes = [int(h) for h in state["hashes"]]
        ref = [int(c) for c in state["ref"]]
        ring = [int(s) for s in state["ring"]]
        if len(hashes) > p.max_categories or len(ref) != p.max_categories + 1:
            raise ValueError("state does not fit max_categories")
        if len(ring) != p.window_size or not all(0 <= s <= p.max_categories for s in ring):
            raise ValueError("ring does not fit window_size")
        cur_n = int(state["cur_n"])
        pos = int(state["pos"])
        if not (0 <= cur_n <= p.window_size and 0 <= pos < p.window_size):
            raise ValueError("window position out of range")
        cur = [0] * (p.max_categories + 1)
        # Rebuild the recent counts from the ring's filled part.
        filled = ring if cur_n == p.window_size else ring[:cur_n]
        for s in filled:
            cur[s] += 1
        self._hashes = hashes
        self._slot_by_hash = {h: i for i, h in enumerate(hashes)}
        self._ref = ref
        self._ref_n = int(state["ref_n"])
        self._ring = ring
        self._cur = cur
        self._cur_n = cur_n
        self._pos = pos
        self._tick = int(state["tick"])
        self._distance = as_float(state["distance"])
        self._p_value = as_float(state["p_value"])
