"""HDDM_A (Frías-Blanco et al. 2014): Hoeffding bound on the error-rate average."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field
from river.drift.binary import HDDMA

from detectors import river_compat
from detectors.base import DetectorParams, StateValue
from detectors.drift.river_backed import RiverDetector


class HDDMAParams(DetectorParams):
    """River's ``HDDM_A`` parameters."""

    drift_confidence: float = Field(default=0.001, gt=0.0, lt=1.0)
    warning_confidence: float = Field(default=0.005, gt=0.0, lt=1.0)
    two_sided_test: bool = False


class HDDMADetector(RiverDetector):
    """HDDM with A-test backed by ``river.drift.binary.HDDMA``; 1 = wrong prediction.

    The statistic is the running error rate.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(42)
    >>> det = HDDMADetector()
    >>> before = [rng.random() < 0.1 for _ in range(2000)]
    >>> stream = before + [rng.random() < 0.4 for _ in range(1000)]
    >>> hits = [i for i, x in enumerate(stream) if det.update(x).drift_detected]
    >>> 2000 < hits[0] < 2200
    True
    """

    kind = "hddm_a"
    input_type = "binary"
    Params = HDDMAParams

    __slots__ = ("_river",)

    def _reset_state(self) -> None:
        p = self._params
        assert isinstance(p, HDDMAParams)
        self._river = HDDMA(  # type: ignore[no-untyped-call]
            drift_confidence=p.drift_confidence,
            warning_confidence=p.warning_confidence,
            two_sided_test=p.two_sided_test,
        )

    def _statistic(self) -> float:
        return river_compat.hddm_a_error_rate(self._river)

    def _export(self) -> dict[str, StateValue]:
        return river_compat.export_hddm_a(self._river)

    def _import(self, state: Mapping[str, Any]) -> None:
        self._reset_state()
        river_compat.import_hddm_a(self._river, state)
