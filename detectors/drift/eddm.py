"""EDDM (Baena-García et al. 2006): distance between errors, for gradual concept drift."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import Field, model_validator
from river.drift.binary import EDDM

from detectors import river_compat
from detectors.base import DetectorParams, StateValue
from detectors.drift.river_backed import RiverDetector


class EDDMParams(DetectorParams):
    """River's ``EDDM`` parameters (``alpha`` warning level, ``beta`` drift level)."""

    warm_start: int = Field(default=30, ge=1, le=1_000_000)
    alpha: float = Field(default=0.95, gt=0.0, lt=1.0)
    beta: float = Field(default=0.9, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.alpha < self.beta:
            raise ValueError("alpha must be greater or equal to beta")
        return self


class EDDMDetector(RiverDetector):
    """Early Drift Detection Method backed by ``river.drift.binary.EDDM``; 1 = wrong prediction.

    The statistic is the mean distance (in events) between two errors.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(42)
    >>> det = EDDMDetector()
    >>> before = [rng.random() < 0.05 for _ in range(3000)]
    >>> stream = before + [rng.random() < 0.5 for _ in range(1000)]
    >>> hits = [i for i, x in enumerate(stream) if det.update(x).drift_detected]
    >>> any(3000 < h < 3300 for h in hits)
    True
    """

    kind = "eddm"
    input_type = "binary"
    Params = EDDMParams

    __slots__ = ("_river",)

    def _reset_state(self) -> None:
        p = self._params
        assert isinstance(p, EDDMParams)
        self._river = EDDM(warm_start=p.warm_start, alpha=p.alpha, beta=p.beta)

    def _statistic(self) -> float:
        return river_compat.eddm_mean_distance(self._river)

    def _export(self) -> dict[str, StateValue]:
        return river_compat.export_eddm(self._river)

    def _import(self, state: Mapping[str, Any]) -> None:
        self._reset_state()
        river_compat.import_eddm(self._river, state)
