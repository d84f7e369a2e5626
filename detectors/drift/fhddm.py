"""FHDDM (Pesaranghader & Viktor 2016): sliding-window accuracy with a Hoeffding bound."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import Field, model_validator
from river.drift.binary import FHDDM

from detectors import river_compat
from detectors.base import DetectorParams, StateValue
from detectors.drift.river_backed import RiverDetector


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

    def _learn(self, x: Any) -> bool:
        river = self._river
        river.update(0 if x else 1)
        return river_compat.drift_flag(river)

    def _statistic(self) -> float:
        return river_compat.fhddm_error_rate(self._river)

    def _export(self) -> dict[str, StateValue]:
        return river_compat.export_fhddm(self._river)

    def _import(self, state: Mapping[str, Any]) -> None:
        self._reset_state()
        river_compat.import_fhddm(self._river, state)
