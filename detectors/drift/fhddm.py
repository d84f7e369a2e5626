"""FHDDM (Pesaranghader & Viktor 2016): sliding-window accuracy with a Hoeffding bound."""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any, Self

from pydantic import Field, model_validator
from river.drift.binary import FHDDM

from detectors.base import DetectorParams, RiverDetector, StateValue, as_float
from detectors.drift._river_state import flag


class FHDDMParams(DetectorParams):
    """River's ``FHDDM`` parameters."""

    sliding_window_size: int = Field(default=100, ge=2, le=1_000_000)
    confidence_level: float = Field(default=1e-6, gt=0.0, lt=1.0)
    short_window_size: int | None = Field(default=None, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _short_fits(self) -> Self:
        if self.short_window_size is not None and self.short_window_size > self.sliding_window_size:
            raise ValueError("short_window_size must not exceed sliding_window_size")
        return self


class FHDDMDetector(RiverDetector):
    """Fast Hoeffding Drift Detection backed by ``river.drift.binary.FHDDM``.

    River's FHDDM watches the rate of ones and fires when it *drops* (it was
    written for a stream of correct predictions), so this detector feeds it
    ``not error``: a drop in accuracy is a rise in errors. ``update`` takes
    1/True for a wrong prediction like the other binary detectors. The
    statistic is the error rate over the sliding window.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(42)
    >>> det = FHDDMDetector()
    >>> before = [rng.random() < 0.1 for _ in range(2000)]
    >>> stream = before + [rng.random() < 0.5 for _ in range(1000)]
    >>> hits = [i for i, x in enumerate(stream) if det.update(x).drift_detected]
    >>> 2000 < hits[0] < 2200
    True
    """

    kind = "fhddm"
    input_type = "binary"
    Params = FHDDMParams

    __slots__ = ("_river",)

    def _reset_state(self) -> None:
        p = self._params
        assert isinstance(p, FHDDMParams)
        self._river = FHDDM(
            sliding_window_size=p.sliding_window_size,
            confidence_level=p.confidence_level,
            short_window_size=p.short_window_size,
        )

    def update(self, x: Any) -> Self:
        """Learn one outcome (1/True = wrong prediction); guards as in ``Detector.update``."""
        # RiverDetector.update with the inversion inlined: one frame, as the others.
        self._n_seen += 1
        if self._n_seen <= self._warm_up:
            self._drift_detected = False
            return self
        self._n_learnt += 1
        river = self._river
        river.update(0 if x else 1)
        self._drift_detected = river._drift_detected and self._admit()
        return self

    def _learn(self, x: Any) -> bool:
        self._river.update(0 if x else 1)
        fired: bool = self._river._drift_detected
        return fired

    def _statistic(self) -> float:
        window = self._river._sliding_window
        return 1.0 - sum(window) / len(window) if window else 0.0

    def _export(self) -> dict[str, StateValue]:
        d = self._river
        return {
            "fired": d._drift_detected,
            "window": [int(v) for v in d._sliding_window],
            "n_one": int(d.n_one),
            "u_max": float(d._u_max),
            "u_short_max": float(getattr(d, "_u_short_max", 0.0)),
        }

    def _import(self, state: Mapping[str, Any]) -> None:
        self._reset_state()
        d = self._river
        window = [int(v) for v in state["window"]]
        if len(window) > d.sliding_window_size or any(v not in (0, 1) for v in window):
            raise ValueError("window does not fit sliding_window_size")
        d._sliding_window = collections.deque(window, maxlen=d.sliding_window_size)
        d.n_one = int(state["n_one"])
        d._u_max = as_float(state["u_max"])
        if d.short_window_size is not None:
            d._u_short_max = as_float(state["u_short_max"])
        d._drift_detected = flag(state["fired"])
