"""ADWIN on a numeric stream: the default for numeric features and ``outputs.score``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import Field
from river.drift.adwin import ADWIN

from detectors import river_compat
from detectors.base import DetectorParams, InputType, StateValue
from detectors.drift.river_backed import RiverDetector


class AdwinParams(DetectorParams):
    """ADWIN's parameters (River's names), plus the generic guards.

    The default ``delta`` is far smaller than River's 0.002: Guardian watches
    thousands of streams for days, and at 0.002 a stationary Gaussian stream
    raises false alarms every few tens of thousands of values
    (see ``python -m load_tests.eval_drift``). Heavy-tailed features
    (lognormal, exponential) still see about one false alarm per 100k values:
    ADWIN's bound assumes well-behaved values; log-transform such features
    upstream or raise ``min_samples``/``cooldown`` for them.
    """

    delta: float = Field(
        default=1e-5, gt=0.0, lt=1.0, description="Significance of the window cut test."
    )
    clock: int = Field(default=32, ge=1, le=10_000, description="Values between two cut tests.")
    max_buckets: int = Field(default=5, ge=2, le=100)
    min_window_length: int = Field(default=5, ge=1, le=100_000)
    grace_period: int = Field(default=10, ge=1, le=1_000_000)


class AdwinDetector(RiverDetector):
    """Adaptive windowing (Bifet & Gavaldà 2007) backed by River's Rust ADWIN.

    Like River's ``ADWIN.update``, a detection empties the window so the next
    change is measured against the new regime only. The statistic is the mean
    of the current window.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(7)
    >>> det = AdwinDetector()
    >>> before = [rng.gauss(0, 1) for _ in range(2000)]
    >>> stream = before + [rng.gauss(1, 1) for _ in range(2000)]
    >>> hits = [i for i, x in enumerate(stream) if det.update(x).drift_detected]
    >>> len(hits) == 1 and 2000 < hits[0] < 2300
    True
    """

    kind = "adwin"
    input_type: ClassVar[InputType] = "numeric"
    Params = AdwinParams

    __slots__ = ("_river",)

    def _reset_state(self) -> None:
        p = self._params
        assert isinstance(p, AdwinParams)
        self._river = ADWIN(  # type: ignore[no-untyped-call]
            delta=p.delta,
            clock=p.clock,
            max_buckets=p.max_buckets,
            min_window_length=p.min_window_length,
            grace_period=p.grace_period,
        )

    def _statistic(self) -> float:
        return float(self._river.estimation)

    def _export(self) -> dict[str, StateValue]:
        return river_compat.export_adwin(self._river)

    def _import(self, state: Mapping[str, Any]) -> None:
        self._reset_state()
        river_compat.import_adwin(self._river, state)
