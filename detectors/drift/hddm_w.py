"""HDDM_W (Frías-Blanco et al. 2014): McDiarmid bound on EWMA error rates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field
from river.drift.binary import HDDMW
from river.drift.binary.hddm_w import SampleInfo

from detectors.base import (
    DetectorParams,
    RiverDetector,
    StateValue,
    as_float,
    decode_float,
    encode_float,
)
from detectors.drift._river_state import flag
from detectors.drift._rust import export_rust, import_rust

_SAMPLES = ("_total", "_s1_decr", "_s1_incr", "_s2_decr", "_s2_incr")


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
        return float(self._river._total.ewma)

    def _export(self) -> dict[str, StateValue]:
        d = self._river
        samples: list[Any] = []
        for name in _SAMPLES:
            s: SampleInfo = getattr(d, name)
            samples.append([export_rust(s._ewma._ewmean), s._is_init, float(s._ibc)])
        return {
            "fired": d._drift_detected,
            "warning": d._warning_detected,
            "samples": samples,
            "incr_cutpoint": encode_float(d._incr_cutpoint),
            "decr_cutpoint": encode_float(d._decr_cutpoint),
        }

    def _import(self, state: Mapping[str, Any]) -> None:
        self._reset_state()
        d = self._river
        samples = state["samples"]
        if len(samples) != len(_SAMPLES):
            raise ValueError("expected five samples")
        for name, (blob, is_init, ibc) in zip(_SAMPLES, samples, strict=True):
            s = SampleInfo(d.lambda_val)
            import_rust(s._ewma._ewmean, blob)
            s._is_init = flag(is_init)
            s._ibc = as_float(ibc)
            setattr(d, name, s)
        d._incr_cutpoint = decode_float(state["incr_cutpoint"])
        d._decr_cutpoint = decode_float(state["decr_cutpoint"])
        d._drift_detected = flag(state["fired"])
        d._warning_detected = flag(state["warning"])
