"""Category frequencies of a recent window against the values just before it, budgeted.

The categorical counterpart of :mod:`detectors.drift.rank_window` (the
``category_window`` kind): every ``check_every`` values the category counts of
the newest ``window_size`` values are compared with those of the
``reference_size`` values before them by a G-test of homogeneity (the
likelihood-ratio chi-square of the 2 x k table). Categories expected fewer
than ``min_expected`` times in the window are pooled into one bin, so a long
tail of rare categories, or one that appears for the first time, counts as
one bin and does not inflate the statistic; the G statistic is used rather
than Pearson's because its far tail (where a budget of a false alarm per
hundred days puts the threshold) follows the chi-square distribution closely
even with small expected counts, where Pearson's grows much heavier.

The p-value becomes a one-sided normal score ``z``; the threshold is the
normal critical value of the per-test rate the false-alarm budget allows
(:mod:`detectors.drift.budget`), calibrated on the stream when the buffer
first fills: a moving-block bootstrap of those values against an independent
bootstrap of the same values shows how much bursts of the same category
(dependence) widen the spread of ``z``, and the threshold is widened by that
ratio. Categories become small integer slots (at most ``max_categories``, the
rest share one), identified in exported state by a hash, never by their text.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from statistics import NormalDist
from typing import Any, ClassVar, cast

import numpy as np
from pydantic import Field

from detectors.base import DetectorParams, InputType, StateValue, as_float
from detectors.drift.budget import (
    AlarmBudget,
    BudgetedWindowParams,
    spend,
)
from detectors.drift.categorical import category_hash
from detectors.drift.gtest import g_score
from detectors.drift.window_feed import WindowFeed


class CategoryWindowParams(BudgetedWindowParams):
    """Window sizes and the false-alarm budget of the ``category_window`` kind."""

    reference_size: int = Field(default=4000, ge=20, le=100_000)
    window_size: int = Field(default=1000, ge=10, le=20_000)
    min_expected: float = Field(
        default=5.0, ge=1.0, le=1000.0, description="Rarer categories share one bin."
    )
    max_categories: int = Field(default=64, ge=2, le=1024)


class CategoryWindowDetector(WindowFeed):
    """Budgeted drift test of category frequencies (the ``category_window`` kind).

    The statistic is the last test's score over the threshold (1.0 = at the threshold).

    Examples
    --------
    >>> import random
    >>> rng = random.Random(3)
    >>> det = CategoryWindowDetector(events_per_day=864_000)
    >>> before = rng.choices("abcd", weights=[5, 3, 1, 1], k=6000)
    >>> after = rng.choices("abcd", weights=[3, 3, 2, 2], k=2000)
    >>> hits = [i for i, x in enumerate(before + after) if det.update(x).drift_detected]
    >>> len(hits) == 1 and 6000 < hits[0] < 6500
    True
    """

    kind = "category_window"
    input_type: ClassVar[InputType] = "categorical"
    Params = CategoryWindowParams

    __slots__ = (
        "_buf",
        "_end",
        "_filled",
        "_slots",
        "_hashes",
        "_kappa",
        "_moved",
        "_budget",
        "_family",
        "_cap_n",
    )

    _buf: np.ndarray
    _end: int
    _filled: int
    _tick: int
    _slots: dict[Hashable, int]
    _hashes: list[int]
    _moved: dict[str, float]
    _kappa: float
    _t0: float | None
    _budget: AlarmBudget | None
    _family: Callable[[], int] | None
    _clock: Callable[[], float] | None
    _every: int
    _cap_n: int

    def join_family(
        self,
        budget: AlarmBudget,
        family_size: Callable[[], int],
        clock: Callable[[], float] | None = None,
    ) -> None:
        """Take the spec-level budget, the model's detector count and the event clock."""
        self._budget, self._family, self._clock = budget, family_size, clock
        self._z = None  # a new budget: the next test sets the threshold again

    @property
    def threshold(self) -> float | None:
        """Critical score (after calibration), ``None`` before the buffer first fills."""
        return None if self._z is None else self._z * self._kappa

    def alarm_rate_per_day(self) -> float | None:
        if self._alpha is None or self._rate is None:
            return None
        return self._alpha * self._rate / self._p().check_every

    def _p(self) -> CategoryWindowParams:
        p = self._params
        assert isinstance(p, CategoryWindowParams)
        return p

    # -- calibration -----------------------------------------------------------------------

    def _calibrate(self) -> None:
        p = self._p()
        self._rate, self._alpha = spend(
            p, self._budget, self._family, self._clock, self._t0, self._n_learnt
        )
        self._z = -NormalDist().inv_cdf(self._alpha)
        self._kappa = self._dependence_spread()

    def _scores(self, pool: np.ndarray, block: int) -> np.ndarray:
        p = self._p()
        cap = pool.shape[0]
        n_blocks = -(-cap // block)
        starts = self._rng.integers(0, cap, size=(p.bootstrap, n_blocks))
        idx = ((starts[:, :, None] + np.arange(block)) % cap).reshape(p.bootstrap, -1)[:, :cap]
        sims = pool[idx]
        k = p.max_categories + 1
        return np.array(
            [
                g_score(
                    np.bincount(s[: p.reference_size], minlength=k),
                    np.bincount(s[p.reference_size :], minlength=k),
                    p.min_expected,
                )
                for s in sims
            ]
        )

    def _dependence_spread(self) -> float:
        """How much more ``z`` spreads on block-bootstrap streams than on independent ones."""
        p = self._p()
        if p.bootstrap == 0:
            return 1.0
        pool = self._ordered()
        blocked = float(self._scores(pool, min(p.block, pool.shape[0])).std())
        independent = float(self._scores(pool, 1).std())
        if not independent > 0:
            return 1.0
        return max(1.0, blocked / independent)

    # -- buffer and test -------------------------------------------------------------------

    def _cap(self) -> int:
        return self._cap_n

    def _ordered(self) -> np.ndarray:
        return self._buf[self._end - min(self._cap(), self._filled) : self._end]

    def _slot(self, value: Hashable) -> int:
        slot = self._slots.get(value)
        if slot is not None:
            return slot
        overflow = self._p().max_categories
        h = category_hash(value)
        if h in self._hashes:
            slot = self._hashes.index(h)
        elif len(self._hashes) < overflow:
            slot = len(self._hashes)
            self._hashes.append(h)
        else:
            slot = overflow
        if len(self._slots) < 4 * overflow:
            self._slots[value] = slot
        return slot

    def _append(self, slots: Sequence[int]) -> None:
        """Add slots, newest last; only the newest ``_cap()`` are ever read."""
        n, cap = len(slots), self._cap_n
        if n > cap:
            slots = slots[n - cap :]
        m = min(n, cap)
        if self._end + m > self._buf.shape[0]:
            keep = min(cap, self._end)
            self._buf[:keep] = self._buf[self._end - keep : self._end]
            self._end = keep
        if m == 1:
            self._buf[self._end] = slots[-1]
        else:
            self._buf[self._end : self._end + m] = slots
        self._end += m
        self._filled = min(cap, self._filled + n)

    def _test(self) -> bool:
        p = self._p()
        if self._filled < self._cap():
            return False
        if self._z is None:
            self._calibrate()
        assert self._z is not None
        values = self._ordered()
        k = p.max_categories + 1
        score = g_score(
            np.bincount(values[: p.reference_size], minlength=k),
            np.bincount(values[p.reference_size :], minlength=k),
            p.min_expected,
        )
        self._last = score / (self._z * self._kappa)
        if self._last <= 1.0:
            return False
        self._moved = self._moved_shares()  # before the window becomes the new reference
        return True

    def _learn(self, x: Any) -> bool:
        if self._t0 is None and self._clock is not None:
            self._t0 = self._clock()
        self._append((self._slot(x),))
        self._tick += 1
        if self._tick < self._every:
            return False
        self._tick = 0
        return self._tested()

    def _tested(self) -> bool:
        """Run the test; on a change the window (the new regime) starts the next reference."""
        if not self._test():
            return False
        self._filled = min(self._filled, self._p().window_size)
        return True

    def feed(self, values: Sequence[Any], start: int = 0) -> int:
        """:meth:`Detector.feed` in runs up to the next test (one buffer write per run)."""
        if len(values) - start == 1:  # one value (``update``): the generic loop costs less
            return super().feed(values, start)
        return self._feed_runs(values, start)

    def _append_run(self, values: Sequence[Any], start: int, stop: int) -> None:
        known = [self._slots.get(x) for x in values[start:stop]]
        # a category not met yet (or not remembered past the cap): the slow path
        run = [self._slot(x) for x in values[start:stop]] if None in known else known
        self._append(cast(list[int], run))

    def _fire(self) -> bool:
        return self._tested() and self._admit()

    # -- contract --------------------------------------------------------------------------

    def _apply_params(self, params: DetectorParams) -> None:
        super()._apply_params(params)
        assert isinstance(params, CategoryWindowParams)
        self._every = params.check_every
        self._cap_n = params.reference_size + params.window_size
        if not hasattr(self, "_budget"):
            self._budget = None
            self._family = None
            self._clock = None

    def _reset_state(self) -> None:
        p = self._p()
        self._buf = np.zeros(2 * self._cap(), dtype=np.int32)
        self._end = 0
        self._filled = 0
        self._tick = 0
        self._slots = {}
        self._hashes = []
        self._z = None
        self._kappa = 1.0
        self._alpha = None
        self._rate = None
        self._t0 = None
        self._rng = np.random.default_rng(p.seed)
        self._last = 0.0
        self._moved = {}

    def _statistic(self) -> float:
        return self._last

    def explain(self) -> dict[str, float]:
        """Numbers behind the last test (no category is named: the detector keeps hashes)."""
        p = self._p()
        out = {
            "score": self._last,
            "reference_size": float(p.reference_size),
            "window_size": float(p.window_size),
        }
        if self._z is not None and self._alpha is not None:
            out["threshold_z"] = self._z * self._kappa
            out["alpha_per_test"] = self._alpha
            out["alarm_rate_per_day"] = self.alarm_rate_per_day() or 0.0
        out.update(self._moved)
        return out

    def _moved_shares(self, top: int = 3) -> dict[str, float]:
        """Before/after shares of the ``top`` categories whose share moved most.

        A category is named by its 48-bit hash (``cat<i>_id``; -1 for the pooled rare
        ones), never by its value: ``category_hash(value)`` tells an operator which it is.
        """
        p = self._p()
        if self._filled < self._cap():
            return {}
        values = self._ordered()
        k = p.max_categories + 1
        before = np.bincount(values[: p.reference_size], minlength=k) / p.reference_size
        after = np.bincount(values[p.reference_size :], minlength=k) / p.window_size
        out: dict[str, float] = {}
        for i, slot in enumerate(np.argsort(-np.abs(after - before), kind="stable")[:top], 1):
            if before[slot] == after[slot] == 0:
                break
            known = int(slot) < len(self._hashes)
            out[f"cat{i}_id"] = float(self._hashes[slot]) if known else -1.0
            out[f"cat{i}_before"] = float(before[slot])
            out[f"cat{i}_after"] = float(after[slot])
        return out

    def _export(self) -> dict[str, StateValue]:
        return {
            "hashes": list(self._hashes),
            "slots": [int(s) for s in self._ordered()],
            "kappa": self._kappa,
            **self._export_test_state(),
        }

    def _import(self, state: Mapping[str, Any]) -> None:
        self._reset_state()
        p = self._p()
        hashes = [int(h) for h in state["hashes"]]
        slots = [int(s) for s in state["slots"]]
        if len(hashes) > p.max_categories or len(set(hashes)) != len(hashes):
            raise ValueError("hashes do not fit max_categories")
        if len(slots) > self._cap() or not all(0 <= s <= p.max_categories for s in slots):
            raise ValueError("slots do not fit the buffer")
        kappa = as_float(state["kappa"])
        if not kappa >= 1.0:
            raise ValueError("bad kappa")
        self._import_test_state(state)
        self._hashes = hashes
        self._append(slots)
        self._kappa = kappa
