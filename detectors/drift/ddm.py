"""DDM (Gama et al. 2004) on the error stream of a model (concept drift)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import Field, model_validator
from river.drift.binary import DDM

from detectors import river_compat
from detectors.base import DetectorParams, StateValue
from detectors.drift.river_backed import RiverDetector


class DDMParams(DetectorParams):
    """River's ``DDM`` parameters (thresholds in standard deviations)."""

    warm_start: int = Field(default=30, ge=1, le=1_000_000)
    warning_threshold: float = Field(default=2.0, gt=0.0, le=100.0)
    drift_threshold: float = Field(default=3.0, gt=0.0, le=100.0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.drift_threshold < self.warning_threshold:
            raise ValueError("drift_threshold must be at least warning_threshold")
        return self


class DDMDetector(RiverDetector):
    """Drift Detection Method backed by ``river.drift.binary.DDM``; 1 = wrong prediction.

    The statistic is the running error rate.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(42)
    >>> det = DDMDetector()
    >>> before = [rng.random() < 0.1 for _ in range(2000)]
    >>> stream = before + [rng.random() < 0.4 for _ in range(1000)]
    >>> hits = [i for i, x in enumerate(stream) if det.update(x).drift_detected]
    >>> 2000 < hits[0] < 2200
    True
    """

    kind = "ddm"
    input_type = "binary"
    Params = DDMParams

    __slots__ = ("_river",)

    def _reset_state(self) -> None:
        p = self._params
        assert isinstance(p, DDMParams)
        self._river = DDM(
            warm_start=p.warm_start,
            warning_threshold=p.warning_threshold,
            drift_threshold=p.drift_threshold,
        )

    def _statistic(self) -> float:
        return river_compat.ddm_error_rate(self._river)

    def _export(self) -> dict[str, StateValue]:
        return river_compat.export_ddm(self._river)

    def _import(self, state: Mapping[str, Any]) -> None:
        self._reset_state()
        river_compat.import_ddm(self._river, state)
