"""A rank test of a recent window against the values just before it, with a calibrated threshold.

Every ``check_every`` values the newest ``window_size`` values are ranked among
the ``reference_size`` values that preceded them (ties broken at random, which
makes the ranks exactly uniform under no change whatever the values' shape:
heavy tails, counts, a spike of zeros, several modes). Two statistics of those
ranks are tested, each standardised with its known null variance:

- location: the Mann–Whitney rank sum (a shift of the median or the mean);
- scale: the mean squared distance of the ranks from the middle (a Mood-type
  test: the values spread out or narrow). It is right-skewed, so its upper
  critical value is moved out by a Cornish-Fisher correction from its exact
  skewness (:func:`detectors.drift.ranks.scale_skewness`, shape-free like the
  ranks).

The critical value comes from the false-alarm budget (see
:mod:`detectors.drift.budget`) and is calibrated on the stream itself when the
buffer first fills: a moving-block bootstrap of those first values (blocks keep
short-range dependence) gives the spread of both statistics under "no change";
the normal critical value is widened by that spread when it exceeds the
theoretical one. This follows Alibi Detect's online detectors
(``cd/cvm_online.py``, ``mmd_online.py``), which simulate the statistic on
bootstrap streams drawn from the reference to set thresholds for an expected
run time; here the expected run time is the budget (events per false alarm)
and the rank transform makes the null distribution shape-free, so a few
hundred bootstrap draws suffice instead of the tail quantile itself.

Because the reference slides along with the stream, slow regular change (a
daily cycle) is not drift; a change faster than the window is. After a
detection the buffer keeps only the window (the new regime) and refills.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from detectors.base import DetectorParams, InputType, StateValue, as_float
from detectors.drift.budget import (
    AlarmBudget,
    BudgetedWindowParams,
    spend,
    z_for,
)
from detectors.drift.distances import distances
from detectors.drift.ranks import (
    SortedReference,
    bootstrap_spread,
    cornish_fisher,
    rank_z,
    scale_skewness,
)
from detectors.drift.window_feed import WindowFeed


class RankWindowParams(BudgetedWindowParams):
    """Window sizes and the false-alarm budget (hand-set knobs stay for experts)."""

    reference_size: int = Field(default=2000, ge=20, le=100_000)
    window_size: int = Field(default=200, ge=5, le=20_000)
    reference: Literal["sliding", "first"] = Field(
        default="sliding",
        description="sliding: the values before the window; first: the first reference_size "
        "values of the stream (a model version's first events), kept. An uploaded reference "
        "profile of the feature overrides both.",
    )


class RankWindowDetector(WindowFeed):
    """Budgeted, shape-free drift test of a numeric stream (the ``rank_window`` kind).

    Examples
    --------
    >>> import random
    >>> rng = random.Random(7)
    >>> det = RankWindowDetector(events_per_day=864_000)
    >>> before = [rng.lognormvariate(0, 1.5) for _ in range(5000)]
    >>> stream = before + [2.7 * rng.lognormvariate(0, 1.5) for _ in range(2000)]
    >>> hits = [i for i, x in enumerate(stream) if det.update(x).drift_detected]
    >>> len(hits) == 1 and 5000 < hits[0] < 5300
    True
    """

    kind = "rank_window"
    input_type: ClassVar[InputType] = "numeric"
    Params = RankWindowParams

    __slots__ = (
        "_buf",
        "_end",
        "_filled",
        "_kappa",
        "_budget",
        "_family",
        "_fired_at",
        "_first",
        "_profile",
        "_sorted",
        "_cap_n",
        "_one",
    )

    _buf: np.ndarray
    _end: int
    _filled: int
    _tick: int
    _every: int
    _kappa: tuple[float, float]
    _t0: float | None
    _fired_at: int
    _first: np.ndarray | None
    _profile: np.ndarray | None
    _sorted: SortedReference
    _cap_n: int
    _one: np.ndarray
    _budget: AlarmBudget | None
    _family: Callable[[], int] | None
    _clock: Callable[[], float] | None

    # -- budget ----------------------------------------------------------------------------

    def join_family(
        self,
        budget: AlarmBudget,
        family_size: Callable[[], int],
        clock: Callable[[], float] | None = None,
    ) -> None:
        """Take the spec-level budget, a count of the model's detectors and the event clock.

        The registry calls this after creating the detector (and again when the
        budget changes: the next test sets the threshold again). The family
        size is read when the threshold is calibrated (end of the first fill),
        when the model's features are known; ``clock`` gives the time of the
        stream's latest event, from which the event rate is measured over the
        first fill (event time, so a replay measures the rate it replays).
        """
        self._budget = budget
        self._family = family_size
        self._clock = clock
        self._z = None  # a new budget: the next test sets the threshold again

    @property
    def threshold(self) -> float | None:
        """Critical |z| (after calibration), ``None`` before the buffer first fills."""
        return self._z

    @property
    def alpha(self) -> float | None:
        """Per-test false-positive rate spent, ``None`` before calibration."""
        return self._alpha

    def alarm_rate_per_day(self) -> float | None:
        """The budget this detector spends: expected false alarms per day at its rate."""
        if self._alpha is None or self._rate is None:
            return None
        return self._alpha * self._rate / self._every

    def _calibrate(self) -> None:
        p = self._params
        assert isinstance(p, RankWindowParams)
        self._rate, self._alpha = spend(
            p, self._budget, self._family, self._clock, self._t0, self._n_learnt
        )
        self._kappa = self._bootstrap_spread()
        self._z = z_for(self._alpha, n_statistics=2)

    def _bootstrap_spread(self) -> tuple[float, float]:
        """Spread of both statistics on block-bootstrap streams of the first fill (>= 1)."""
        p = self._params
        assert isinstance(p, RankWindowParams)
        if p.bootstrap == 0:
            return (1.0, 1.0)
        pinned = self._pinned()
        pool = self._ordered() if pinned is None else self._rng.choice(pinned, self._cap())
        return bootstrap_spread(pool, p.reference_size, p.bootstrap, p.block, self._rng)

    # -- buffer ----------------------------------------------------------------------------

    def _ordered(self) -> np.ndarray:
        """The newest ``reference_size + window_size`` values, oldest first."""
        cap = self._cap()
        return self._buf[self._end - min(cap, self._filled) : self._end]

    def _cap(self) -> int:
        return self._cap_n

    def _append(self, values: Sequence[Any] | np.ndarray) -> None:
        if len(values) == 1 and type(values[0]) is float:
            arr = self._one  # one float (the per-value path): no new array
            arr[0] = values[0]
        else:
            arr = np.asarray(values, dtype=np.float64)
        n = arr.shape[0]
        cap = self._cap_n
        if self._end + n > self._buf.shape[0]:
            keep = min(cap, self._end)
            self._buf[:keep] = self._buf[self._end - keep : self._end]
            self._end = keep
            self._fired_at = -1
        self._buf[self._end : self._end + n] = arr
        self._end += n
        self._sorted.appended += n
        self._filled = min(cap, self._filled + n)

    def pin_reference(self, values: np.ndarray | None) -> None:
        """Test against these reference values (a profile's sample); ``None`` to unpin.

        Configuration, not learnt state: it survives :meth:`reset`. The threshold
        is calibrated again at the next test.
        """
        pinned = None if values is None else np.asarray(values, np.float64)
        if pinned is not None:
            pinned = np.sort(pinned[np.isfinite(pinned)])  # a profile spanning ±1e308 overflows
        self._profile = pinned if pinned is not None and pinned.size >= 2 else None
        self._z = None

    def _pinned(self) -> np.ndarray | None:
        return self._profile if self._profile is not None else self._first

    def _test(self) -> bool:
        p = self._params
        assert isinstance(p, RankWindowParams)
        ref = self._pinned()
        if self._filled < (self._cap() if ref is None else p.window_size):
            return False
        values = self._ordered()
        if ref is None and p.reference == "first":
            ref = self._first = np.sort(values[: p.reference_size])
        if self._z is None:
            self._calibrate()
        assert self._z is not None
        if ref is None:
            ref = self._sorted.slide(values, p.reference_size, self._every)
        loc, scale = rank_z(ref, values[-p.window_size :], self._rng)
        k_loc, k_scale = self._kappa
        # The scale statistic is right-skewed: its upper critical value moves out.
        up = cornish_fisher(self._z, scale_skewness(ref.shape[0], p.window_size))
        scale_score = scale / up if scale >= 0 else -scale / self._z
        self._last = max(abs(loc) / (k_loc * self._z), scale_score / k_scale)
        if self._last <= 1.0:
            return False
        self._fired_at = self._end
        return True

    def _after_detection(self) -> None:
        """Keep the window (the new regime) as the start of the next reference.

        Against a pinned reference the window starts afresh instead.
        """
        p = self._params
        assert isinstance(p, RankWindowParams)
        self._filled = 0 if self._pinned() is not None else min(self._filled, p.window_size)

    # -- contract --------------------------------------------------------------------------

    def _learn(self, x: Any) -> bool:
        if self._t0 is None and self._clock is not None:
            self._t0 = self._clock()
        self._append((x,))
        self._tick += 1
        if self._tick < self._every:
            return False
        self._tick = 0
        fired = self._test()
        if fired:
            self._after_detection()
        return fired

    def feed(self, values: Sequence[Any], start: int = 0) -> int:
        """:meth:`Detector.feed` in slices up to the next test (numpy, not one call per value)."""
        return self._feed_runs(values, start)

    def _append_run(self, values: Sequence[Any], start: int, stop: int) -> None:
        self._append(values[start:stop])

    def _fire(self) -> bool:
        if not self._test():
            return False
        self._after_detection()
        return self._admit()

    def _apply_params(self, params: DetectorParams) -> None:
        super()._apply_params(params)
        assert isinstance(params, RankWindowParams)
        self._every = params.check_every
        self._cap_n = params.reference_size + params.window_size
        self._one = np.empty(1, dtype=np.float64)
        if not hasattr(self, "_budget"):
            self._profile = None
            self._budget = None
            self._family = None
            self._clock = None

    def _reset_state(self) -> None:
        p = self._params
        assert isinstance(p, RankWindowParams)
        self._buf = np.empty(2 * (p.reference_size + p.window_size), dtype=np.float64)
        self._end = 0
        self._filled = 0
        self._tick = 0
        self._kappa = (1.0, 1.0)
        self._z = None
        self._alpha = None
        self._rate = None
        self._t0 = None
        self._rng = np.random.default_rng(p.seed)
        self._last = 0.0
        self._fired_at = -1
        self._first = None
        self._sorted = SortedReference()

    def _statistic(self) -> float:
        """The last test's largest |z| over the threshold (1.0 = at the threshold)."""
        return self._last

    def explain(self) -> dict[str, float]:
        """Numbers behind the last test: threshold, budget, and quantiles before and after."""
        p = self._params
        assert isinstance(p, RankWindowParams)
        out: dict[str, float] = {
            "score": self._last,
            "reference_size": float(p.reference_size),
            "window_size": float(p.window_size),
        }
        if self._z is not None and self._alpha is not None:
            out["threshold_z"] = self._z * max(self._kappa)
            out["alpha_per_test"] = self._alpha
            out["alarm_rate_per_day"] = self.alarm_rate_per_day() or 0.0
        out["reference_kind"] = (
            2.0 if self._profile is not None else 1.0 if self._first is not None else 0.0
        )
        if 0 <= self._fired_at <= self._end:
            lo = max(0, self._fired_at - self._cap())
            values = self._buf[lo : self._fired_at]
            pinned = self._pinned()
            before = values[: -p.window_size] if pinned is None else pinned
            after = values[-p.window_size :]
            if before.shape[0] and after.shape[0] == p.window_size:
                for q in (10, 50, 90):
                    out[f"before_p{q}"] = float(np.percentile(before, q))
                    out[f"after_p{q}"] = float(np.percentile(after, q))
                out.update(distances(np.sort(before), after))
        return out

    def _export(self) -> dict[str, StateValue]:
        return {
            "values": [float(v) for v in self._ordered()],
            "kappa": list(self._kappa),
            "first": None if self._first is None else [float(v) for v in self._first],
            **self._export_test_state(),
        }

    def _import(self, state: Mapping[str, Any]) -> None:
        self._reset_state()
        values = [as_float(v) for v in state["values"]]
        if len(values) > self._cap() or not all(math.isfinite(v) for v in values):
            raise ValueError("values do not fit the buffer")
        kappa = [as_float(v) for v in state["kappa"]]
        if len(kappa) != 2 or min(kappa) < 1.0:
            raise ValueError("bad kappa")
        self._import_test_state(state)
        self._append(values)
        self._kappa = (kappa[0], kappa[1])
        first = state["first"]
        if first is not None:
            pinned = [as_float(v) for v in first]
            if len(pinned) > self._cap() or not all(math.isfinite(v) for v in pinned):
                raise ValueError("first reference does not fit")
            self._first = np.asarray(pinned, dtype=np.float64)
