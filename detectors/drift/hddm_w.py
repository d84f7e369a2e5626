"""HDDM_W (Frías-Blanco et al. 2014): McDiarmid bound on EWMA error rates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field
from river.drift.binary import HDDMW

from detectors import river_compat
from detectors.base import DetectorParams, StateValue
from detectors.drift.river_backed import RiverDetector


class HDDMWParams(DetectorParams):
    """River's ``HDDM_W`` parameters."""

    drift_confidence: float = Field(default=0.001, gt=0.0, lt=1.0)
    warning_confidence: float = Field(default=0.005, gt=0.0, lt=1.0)
    lambda_val: float = Field(default=0.05, gt=0.0, le=1.0)
    two_sided_test: bool = False


class HDDMWDetector(RiverDetector):
    """HDDM with W-test backed by ``river.drift.binary.HDDMW``; 1 = wrong prediction.

    The statistic is the EWMA error rate. Each of River's five ``SampleInfo``
    holds a Rust ``EWMean`` whose numeric serde state is carried as bytes.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(42)
    >>> det = HDDMWDetector()
    >>> before = [rng.random() < 0.1 for _ in range(2000)]
    >>> stream = before + [rng.random() < 0.4 for _ in range(1000)]
    >>> hits = [i for i, x in enumerate(stream) if det.update(x).drift_detected]
    >>> 2000 < hits[0] < 2200
    True
    """

    kind = "hddm_w"
    input_type = "binary"
    Params = HDDMWParams

    __slots__ = ("_river",)

    def _reset_state(self) -> None:
        p = self._params
        assert isinstance(p, HDDMWParams)
        self._river = HDDMW(  # type: ignore[no-untyped-call]
            drift_confidence=p.drift_confidence,
            warning_confidence=p.warning_confidence,
            lambda_val=p.lambda_val,
            two_sided_test=p.two_sided_test,
        )

    def _statistic(self) -> float:
        return river_compat.hddm_w_error_rate(self._river)

    def _export(self) -> dict[str, StateValue]:
        return river_compat.export_hddm_w(self._river)

    def _import(self, state: Mapping[str, Any]) -> None:
        self._reset_state()
        river_compat.import_hddm_w(self._river, state)
