"""Text drift without a model: hashed character n-gram profiles and Jensen–Shannon divergence.

The reference profile of a (model, version, field) is the distribution of the
hashed character trigrams of its first ``reference_texts`` texts. Each later
text is scored by the Jensen–Shannon divergence (base 2, in [0, 1]) between its
own trigram profile and the reference: one independent value per text, whose
mean rises when the topic, the language or the style of the traffic moves away
from the reference. The values feed the same drift detectors as any numeric
stream (``text.<field>.ngram_js``).

Hashing (``zlib.crc32``, stable across processes) bounds the profile to
``buckets`` numbers: no vocabulary is kept, and no text can be read back from it.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Mapping
from typing import Any

N = 3
_LN2 = math.log(2.0)


def profile(text: str, buckets: int) -> Counter[int]:
    """Counts of the hashed character trigrams of ``text`` (lower-cased, padded)."""
    padded = f" {text.lower()} "
    grams = Counter(padded[i : i + N] for i in range(len(padded) - N + 1))
    out: Counter[int] = Counter()
    for gram, count in grams.items():
        out[zlib.crc32(gram.encode("utf-8")) % buckets] += count
    return out


def js_divergence(counts: Mapping[int, int], reference: list[float]) -> float:
    """JS divergence (bits) of one text's counts against a normalised reference profile.

    Only the text's own buckets are visited: where the text has no mass,
    ``q log(2q / q) = q`` bits, so the reference mass outside them adds up at once.
    """
    total = sum(counts.values())
    if total == 0:
        return 0.0
    js = 0.0
    q_inside = 0.0
    for bucket, count in counts.items():
        p = count / total
        q = reference[bucket]
        q_inside += q
        m = (p + q) / 2.0
        js += p * math.log(p / m)
        if q > 0.0:
            js += q * math.log(q / m)
    js += (1.0 - q_inside) * _LN2  # reference buckets the text does not touch
    return max(0.0, min(1.0, js / (2.0 * _LN2)))


class ReferenceProfile:
    """Trigram distribution of the first ``size`` texts; frozen once full."""

    __slots__ = ("size", "buckets", "texts", "_counts", "_normalised")

    def __init__(self, size: int, buckets: int) -> None:
        self.size = size
        self.buckets = buckets
        self.texts = 0
        self._counts = [0.0] * buckets
        self._normalised: list[float] | None = None

    @property
    def ready(self) -> bool:
        return self._normalised is not None

    def learn(self, counts: Mapping[int, int]) -> None:
        if self._normalised is not None:
            return
        for bucket, count in counts.items():
            self._counts[bucket] += count
        self.texts += 1
        if self.texts >= self.size:
            total = sum(self._counts) or 1.0
            self._normalised = [c / total for c in self._counts]

    def divergence(self, counts: Mapping[int, int]) -> float | None:
        if self._normalised is None:
            return None
        return js_divergence(counts, self._normalised)

    def export_state(self) -> dict[str, Any]:
        return {"texts": self.texts, "counts": [round(c, 3) for c in self._counts]}

    @classmethod
    def from_state(cls, size: int, buckets: int, saved: Mapping[str, Any]) -> ReferenceProfile:
        counts = [float(c) for c in saved["counts"]]
        if len(counts) != buckets or any(not math.isfinite(c) or c < 0 for c in counts):
            raise ValueError("reference profile state does not fit the configured buckets")
        ref = cls(size, buckets)
        ref._counts = counts
        ref.texts = max(0, min(int(saved["texts"]), size))
        if ref.texts >= size:
            total = sum(counts) or 1.0
            ref._normalised = [c / total for c in counts]
        return ref
