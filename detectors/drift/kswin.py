"""KSWIN: Kolmogorov-Smirnov test between a sliding window's past and its newest values.

This detector is expensive: every test runs ``scipy.stats.ks_2samp`` (tens of
microseconds). Guardian therefore windows *and* samples it: only every
``sample_every``-th value enters the window, so the cost per event is divided
by ``sample_every`` and the detection delay (in events) multiplied by it. Use it
for features where the distribution's shape matters more than its mean, not as
the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import Field, model_validator

from detectors import river_compat
from detectors.base import (
    Detector,
    DetectorParams,
    StateValue,
)


class KSWINParams(DetectorParams):
    """River's ``KSWIN`` parameters, plus sampling and the generic guards."""

    alpha: float = Field(default=1e-5, gt=0.0, lt=1.0, description="KS test significance.")
    window_size: int = Field(default=400, ge=20, le=100_000)
    stat_size: int = Field(default=100, ge=10, le=50_000)
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seeds the window sampling.")
    sample_every: int = Field(
        default=4, ge=1, le=10_000, description="Only every n-th value is tested."
    )

    @model_validator(mode="after")
    def _sizes_fit(self) -> Self:
        if self.window_size < 2 * self.stat_size:
            raise ValueError("window_size must be at least twice stat_size")
        return self


class KSWINDetector(Detector):
    """Sampled KSWIN backed by ``river.drift.KSWIN`` (see the module docstring on cost).

    The statistic is the last test's p-value (small means different).

    Examples
    --------
    >>> import random
    >>> rng = random.Random(3)
    >>> det = KSWINDetector(sample_every=1)
    >>> before = [rng.gauss(0, 1) for _ in range(1000)]
    >>> stream = before + [rng.gauss(0, 4) for _ in range(1000)]
    >>> hits = [i for i, x in enumerate(stream) if det.update(x).drift_detected]
    >>> 1000 < hits[0] < 1100
    True
    """

    kind = "kswin"
    input_type = "numeric"
    Params = KSWINParams

    __slots__ = ("_ks", "_every", "_tick")

    def _reset_state(self) -> None:
        p = self._params
        assert isinstance(p, KSWINParams)
        # Imported here: river.drift.kswin imports scipy.stats (~50 MiB), paid only by
        # a process that runs a KSWIN detector.
        from river.drift.kswin import KSWIN

        self._ks: Any = KSWIN(
            alpha=p.alpha, window_size=p.window_size, stat_size=p.stat_size, seed=p.seed
        )
        self._every = p.sample_every
        self._tick = 0

    def _learn(self, x: Any) -> bool:
        self._tick += 1
        if self._tick < self._every:
            return False
        self._tick = 0
        ks = self._ks
        ks.update(x)
        return river_compat.drift_flag(ks)

    def _statistic(self) -> float:
        return float(self._ks.p_value) if self._ks.n else 1.0

    def _export(self) -> dict[str, StateValue]:
        return {**river_compat.export_kswin(self._ks), "tick": self._tick}

    def _import(self, state: Mapping[str, Any]) -> None:
        self._reset_state()
        river_compat.import_kswin(self._ks, state)
        tick = int(state["tick"])
        if not 0 <= tick < self._every:
            raise ValueError("tick out of range")
        self._tick = tick
