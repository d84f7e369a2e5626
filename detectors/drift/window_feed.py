"""The batched ``feed`` of the windowed kinds (``rank_window``, ``category_window``).

Both test every ``check_every`` values, so a batch is consumed in runs that end at the
next test: warm-up values are counted and skipped, each run is written to the window in
one call, and the test runs once per run that reaches it. Only what a run writes and
what a test decides differ per kind (:meth:`WindowFeed._append_run`, :meth:`WindowFeed._fire`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from detectors.base import Detector


class WindowFeed(Detector):
    """A detector fed in runs up to its next test (the kinds declare the slots)."""

    __slots__ = ("_tick", "_every", "_t0", "_clock")

    _tick: int
    _every: int
    _t0: float | None
    _clock: Callable[[], float] | None

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
