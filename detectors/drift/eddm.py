"""EDDM (Baena-García et al. 2006): distance between errors, for gradual concept drift."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import Field, model_validator
from river.drift.binary import EDDM

from detectors.base import DetectorParams, RiverDetector, StateValue, as_float
from detectors.drift._river_state import flag, load_mean, mean_state


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
        return float(self._river._error_distances.mean.get())

    def _export(self) -> dict[str, StateValue]:
        d = self._river
        var = d._error_distances
        return {
            "fired": d._drift_detected,
            "warning": d._warning_detected,
            "dist_mean": mean_state(var.mean),
            "dist_s": float(var._S),
            "n": d._n,
            "last_error": d._last_error,
            "n_errors": d._n_errors,
            "p2s_prime_max": float(d._p2s_prime_max),
        }

    def _import(self, state: Mapping[str, Any]) -> None:
        self._reset_state()
        d = self._river
        d._drift_detected = flag(state["fired"])
        d._warning_detected = flag(state["warning"])
        load_mean(d._error_distances.mean, state["dist_mean"])
        d._error_distances._S = as_float(state["dist_s"])
        d._n = int(state["n"])
        d._last_error = int(state["last_error"])
        d._n_errors = int(state["n_errors"])
        d._p2s_prime_max = as_float(state["p2s_prime_max"])
