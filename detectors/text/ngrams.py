"""Text drift without a model: hashed character n-gram profiles and Jensen–Shannon divergence.

The reference profile of a (model, version, field) is the distribution of the
hashed character trigrams of its first ``reference_texts`` texts. Each later
text is scored by the Jensen–Shannon divergence (base 2, in [0, 1]) between its
own trigram profile and the reference: one independent value per text, whose
mean rises when the topic, the language or the style of the traffic moves away
from the reference. The values feed the same drift detectors as any numeric
stream (``text.<field>.ngram_js``).

Hashing (a fixed multiplicative mix, stable across processes and restarts) bounds
the profile to ``buckets`` numbers: no vocabulary is kept, and no text can be read
back from it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

N = 3
FloatArray = NDArray[np.float64]
# Odd 32-bit multipliers (golden ratio, murmur3 constants) mix the three bytes of a trigram.
_MIX = np.array([0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D], dtype=np.uint64)


def profile(text: str, buckets: int) -> FloatArray:
    """Counts of the hashed byte trigrams of ``text`` (lower-cased UTF-8, padded), dense.

    Byte trigrams are character trigrams for ASCII text; vectorised, one text
    costs tens of microseconds whatever its length up to a few kB.
    """
    data = np.frombuffer(f" {text.lower()} ".encode(), dtype=np.uint8).astype(np.uint64)
    if len(data) < N:
        return np.zeros(buckets)
    mixed = (data[:-2] * _MIX[0]) ^ (data[1:-1] * _MIX[1]) ^ (data[2:] * _MIX[2])
    hashed = ((mixed ^ (mixed >> np.uint64(29))) & np.uint64(0xFFFFFFFF)) % np.uint64(buckets)
    return np.bincount(hashed.astype(np.intp), minlength=buckets).astype(np.float64)


def js_divergence(counts: FloatArray, reference: FloatArray) -> float:
    """Jensen–Shannon divergence (bits, in [0, 1]) of one text's counts and a reference.

    ``reference`` is normalised (sums to 1). Only the text's own buckets are
    visited: where the text has no mass, ``m = q / 2`` and the reference term is
    ``q log2(q / m) = q``, so the reference mass outside them adds up at once.
    """
    idx = np.flatnonzero(counts)
    if len(idx) == 0:
        return 0.0
    p = counts[idx]
    p = p / p.sum()
    q = reference[idx]
    m = (p + q) / 2.0
    js = float(np.dot(p, np.log2(p / m)))
    seen = q > 0
    js += float(np.dot(q[seen], np.log2(q[seen] / m[seen])))
    js += 1.0 - float(q.sum())
    return min(1.0, max(0.0, js / 2.0))


class ReferenceProfile:
    """Trigram distribution of the first ``size`` texts; frozen once full."""

    __slots__ = ("size", "buckets", "texts", "_counts", "_normalised")

    def __init__(self, size: int, buckets: int) -> None:
        self.size = size
        self.buckets = buckets
        self.texts = 0
        self._counts = np.zeros(buckets)
        self._normalised: FloatArray | None = None

    @property
    def ready(self) -> bool:
        return self._normalised is not None

    def learn(self, counts: FloatArray) -> None:
        if self._normalised is not None:
            return
        self._counts += counts
        self.texts += 1
        if self.texts >= self.size:
            self._normalised = self._counts / (float(self._counts.sum()) or 1.0)

    def divergence(self, counts: FloatArray) -> float | None:
        if self._normalised is None:
            return None
        return js_divergence(counts, self._normalised)

    def export_state(self) -> dict[str, Any]:
        return {"texts": self.texts, "counts": [round(float(c), 3) for c in self._counts]}

    @classmethod
    def from_state(cls, size: int, buckets: int, saved: Mapping[str, Any]) -> ReferenceProfile:
        counts = [float(c) for c in saved["counts"]]
        if len(counts) != buckets or any(not math.isfinite(c) or c < 0 for c in counts):
            raise ValueError("reference profile state does not fit the configured buckets")
        ref = cls(size, buckets)
        ref._counts = np.array(counts, dtype=np.float64)
        ref.texts = max(0, min(int(saved["texts"]), size))
        if ref.texts >= size:
            ref._normalised = ref._counts / (float(ref._counts.sum()) or 1.0)
        return ref
