"""Page-Hinkley test on a numeric stream (mean shifts, cheap, order-sensitive)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field
from river.drift.page_hinkley import PageHinkley

from detectors import river_compat
from detectors.base import DetectorParams, StateValue
from detectors.drift.river_backed import RiverDetector


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
        return river_compat.page_hinkley_statistic(self._river)

    def _export(self) -> dict[str, StateValue]:
        return river_compat.export_page_hinkley(self._river)

    def _import(self, state: Mapping[str, Any]) -> None:
        self._reset_state()
        river_compat.import_page_hinkley(self._river, state)
