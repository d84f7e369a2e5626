"""What the windowed kinds (``rank_window``, ``category_window``) share: batched feed, test state.

Both test every ``check_every`` values, so a batch is consumed in runs that end at the
next test: warm-up values are counted and skipped, each run is written to the window in
one call, and the test runs once per run that reaches it. Only what a run writes and
what a test decides differ per kind (:meth:`WindowFeed._append_run`, :meth:`WindowFeed._fire`).
Both also carry the same test state (where the next test is, the budget's threshold and
spend, the bootstrap's generator), checkpointed by one pair of methods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from detectors.base import Detector, StateValue, as_float
from detectors.drift.ranks import rng_from_words, rng_words


class WindowFeed(Detector):
    """A detector fed in runs up to its next test (the kinds declare the slots)."""

    __slots__ = ("_tick", "_every", "_t0", "_clock", "_z", "_alpha", "_rate", "_last", "_rng")

    _tick: int
    _every: int
    _t0: float | None
    _clock: Callable[[], float] | None
    #: The budget's threshold and spend, and the bootstrap's generator (see the kinds).
    _z: float | None
    _alpha: float | None
    _rate: float | None
    _last: float
    _rng: np.random.Generator

    def _append_run(self, values: Sequence[Any], start: int, stop: int) -> None:
        """Write ``values[start:stop]`` to the window, newest last."""
        raise NotImplementedError

    def _fire(self) -> bool:
        """Run the test; whether a detection is admitted now."""
        raise NotImplementedError

    def _feed_runs(self, values: Sequence[Any], start: int) -> int:
        """:meth:`Detector.feed`: the index of the first admitted detection, else -1."""
        i, n = start, len(values)
        while i < n:
            if self._n_seen < self._warm_up:
                skip = min(n - i, self._warm_up - self._n_seen)
                self._n_seen += skip
                i += skip
                continue
            if self._t0 is None and self._clock is not None:
                self._t0 = self._clock()
            j = min(n, i + self._every - self._tick)
            self._append_run(values, i, j)
            self._n_seen += j - i
            self._n_learnt += j - i
            self._tick += j - i
            i = j
            if self._tick < self._every:
                break
            self._tick = 0
            if self._fire():
                self._drift_detected = True
                return i - 1
        self._drift_detected = False
        return -1

    def _export_test_state(self) -> dict[str, StateValue]:
        """Where the next test is and what the budget has spent (part of ``_export``)."""
        return {
            "tick": self._tick,
            "z": self._z,
            "alpha": self._alpha,
            "rate": self._rate,
            "last": self._last,
            "t0": self._t0,
            "rng": rng_words(self._rng),
        }

    def _import_test_state(self, state: Mapping[str, Any]) -> None:
        """The inverse of :meth:`_export_test_state`; raises ``ValueError`` on a bad tick."""
        tick = int(state["tick"])
        if not 0 <= tick < self._every:
            raise ValueError("tick out of range")
        self._tick = tick
        self._z, self._alpha, self._rate, self._t0 = (
            None if state[k] is None else as_float(state[k]) for k in ("z", "alpha", "rate", "t0")
        )
        self._last = as_float(state["last"])
        self._rng = rng_from_words(state["rng"])
