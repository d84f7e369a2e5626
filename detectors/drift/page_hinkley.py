"""Page-Hinkley test on a numeric stream (mean shifts, cheap, order-sensitive)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field
from river.drift import PageHinkley

from detectors.base import (
    DetectorParams,
    RiverDetector,
    StateValue,
    as_float,
    decode_float,
    encode_float,
)


class PageHinkleyParams(DetectorParams):
    """River's ``PageHinkley`` parameters, plus the generic guards.

    ``delta`` and ``threshold`` are in the units of the feature: scale them to
    the feature's standard deviation (the defaults suit a unit-variance
    feature: ``delta`` is half the smallest shift worth finding, 0.5 sigma).
    River's defaults (delta 0.005, threshold 50, fading alpha 0.9999) raise
    tens of false alarms per 100k stationary values: with fading, the
    cumulative sum settles into noise of about 70 sigma around its floor. With
    ``alpha=1`` the test is a plain two-sided CUSUM and stays silent
    (``python -m load_tests.eval_drift``).
    """

    min_instances: int = Field(default=30, ge=1, le=1_000_000)
    delta: float = Field(default=0.25, ge=0.0, le=1e9)
    threshold: float = Field(default=25.0, gt=0.0, le=1e12)
    alpha: float = Field(default=1.0, gt=0.0, le=1.0)
    mode: Literal["up", "down", "both"] = "both"


class PageHinkleyDetector(RiverDetector):
    """Page-Hinkley cumulative-deviation test backed by ``river.drift.PageHinkley``.

    The statistic is the larger of the upward and downward test values, the
    quantity compared with ``threshold``.

    Examples
    --------
    >>> det = PageHinkleyDetector(threshold=20.0)
    >>> hits = [i for i, x in enumerate([0.0] * 500 + [1.0] * 500) if det.update(x).drift_detected]
    >>> hits
    [527]
    """

    kind = "page_hinkley"
    input_type = "numeric"
    Params = PageHinkleyParams

    __slots__ = ("_river",)

    def _reset_state(self) -> None:
        p = self._params
        assert isinstance(p, PageHinkleyParams)
        self._river = PageHinkley(
            min_instances=p.min_instances,
            delta=p.delta,
            threshold=p.threshold,
            alpha=p.alpha,
            mode=p.mode,
        )

    def _statistic(self) -> float:
        ph = self._river
        if ph._x_mean.n == 0:
            return 0.0
        return float(max(ph._sum_increase - ph._min_increase, ph._max_decrease - ph._sum_decrease))

    def _export(self) -> dict[str, StateValue]:
        ph = self._river
        return {
            "fired": ph._drift_detected,
            "mean_n": ph._x_mean.n,
            "mean": ph._x_mean._mean,
            "sum_increase": encode_float(ph._sum_increase),
            "sum_decrease": encode_float(ph._sum_decrease),
            "min_increase": encode_float(ph._min_increase),
            "max_decrease": encode_float(ph._max_decrease),
        }

    def _import(self, state: Mapping[str, Any]) -> None:
        self._reset_state()
        ph = self._river
        ph._drift_detected = bool(state["fired"])
        ph._x_mean.n = as_float(state["mean_n"])
        ph._x_mean._mean = as_float(state["mean"])
        ph._sum_increase = decode_float(state["sum_increase"])
        ph._sum_decrease = decode_float(state["sum_decrease"])
        ph._min_increase = decode_float(state["min_increase"])
        ph._max_decrease = decode_float(state["max_decrease"])
