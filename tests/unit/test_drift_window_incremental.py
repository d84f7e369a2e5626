"""The window kinds' incremental bookkeeping changes nothing they report.

``rank_window`` keeps its sliding reference sorted from one test to the next
instead of sorting it again at every test, and ``category_window`` writes a run
of values into its buffer at once instead of one call per value. Both are
checked two ways on seeded streams (stationary, shifted, ties, NaN, many buffer
wrap-arounds, a budget change, an export/import round trip):

- against the old algorithm kept here (a reference that sorts afresh at every
  test; the generic one-value-at-a-time feed loop): the same detections, the
  same statistic after every run of values, the same exported state;
- against ``window_trace.json``, recorded by the code before the change
  (``python -m tests.unit.test_drift_window_incremental --record``): the same
  detection indices and statistics, bit for bit, and the same final state.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detectors.base import Detector
from detectors.drift.budget import AlarmBudget
from detectors.drift.category_window import CategoryWindowDetector
from detectors.drift.rank_window import RankWindowDetector

RECORDED = Path(__file__).with_name("window_trace.json")


class _Resort:
    """The old reference: sorted from scratch at every test."""

    def __init__(self) -> None:
        self.appended = 0

    def slide(self, values: np.ndarray, reference_size: int, step: int) -> np.ndarray:
        return np.sort(values[:reference_size])


class ResortingRankWindow(RankWindowDetector):
    def _reset_state(self) -> None:
        super()._reset_state()
        self._sorted = _Resort()  # type: ignore[assignment]


class OneByOneCategoryWindow(CategoryWindowDetector):
    feed = Detector.feed  # the generic loop: one _learn (one buffer write) per value


# -- streams ---------------------------------------------------------------------------------


def _gauss(seed: int, n: int, shift_at: int | None = None, by: float = 1.0) -> list[Any]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    if shift_at is not None:
        x[shift_at:] += by
    return [float(v) for v in x]


def _ties(seed: int, n: int) -> list[Any]:
    rng = np.random.default_rng(seed)
    x = rng.poisson(1.5, n).astype(float)
    x[n // 2 :] = rng.poisson(2.5, n - n // 2)
    x[::7] = 0.0
    x[::11] = -0.0  # equal to 0.0: interchangeable in a sorted reference
    return [float(v) for v in x]


def _nans(seed: int, n: int) -> list[Any]:
    """NaN reaches the detector when it is fed directly (the registry turns it away)."""
    values = _gauss(seed, n, shift_at=n // 2)
    for i in range(3, n, 37):
        values[i] = float("nan")
    return values


def _cats(seed: int, n: int, shift_at: int | None = None, k: int = 6) -> list[Any]:
    rng = np.random.default_rng(seed)
    p = np.arange(k, 0, -1, dtype=float)
    out = list(rng.choice(k, size=n, p=p / p.sum()))
    if shift_at is not None:
        out[shift_at:] = list(rng.choice(k, size=n - shift_at, p=p[::-1] / p.sum()))
    return [f"c{v}" for v in out]


def _many_cats(seed: int, n: int) -> list[Any]:
    """More categories than slots (the overflow slot) and than remembered values."""
    rng = np.random.default_rng(seed)
    return [f"v{int(v)}" for v in rng.zipf(1.3, n) % 400]


RANK_SMALL = {"reference_size": 120, "window_size": 40, "check_every": 10, "bootstrap": 50}
CAT_SMALL = {"reference_size": 200, "window_size": 80, "check_every": 10, "bootstrap": 40}

#: name -> (detector kind, params, stream)
SCENARIOS: dict[str, tuple[str, dict[str, Any], Callable[[], list[Any]]]] = {
    "rank stationary": ("rank", {}, lambda: _gauss(1, 9000)),
    "rank shift": ("rank", {}, lambda: _gauss(2, 9000, shift_at=4000)),
    "rank ties": ("rank", {}, lambda: _ties(3, 9000)),
    "rank nan": ("rank", {}, lambda: _nans(4, 9000)),
    "rank wrap": ("rank", RANK_SMALL, lambda: _gauss(5, 8000, shift_at=5000, by=3.0)),
    "rank ties wrap": ("rank", RANK_SMALL, lambda: _ties(6, 8000)),
    "rank first": ("rank", {**RANK_SMALL, "reference": "first"}, lambda: _gauss(7, 3000, 2000)),
    "rank warm-up": ("rank", {**RANK_SMALL, "warm_up": 37}, lambda: _gauss(8, 3000, 1500)),
    "cat stationary": ("cat", {}, lambda: _cats(11, 12000)),
    "cat shift": ("cat", {}, lambda: _cats(12, 12000, shift_at=7000)),
    "cat wrap": ("cat", CAT_SMALL, lambda: _cats(13, 8000, shift_at=5000)),
    "cat overflow": ("cat", {**CAT_SMALL, "max_categories": 8}, lambda: _many_cats(14, 8000)),
    "cat warm-up": ("cat", {**CAT_SMALL, "warm_up": 23}, lambda: _cats(15, 3000, 1500)),
}

#: scenarios whose streams must bring a detection (and so the refill after it)
DETECTING = {
    "rank shift",
    "rank ties",
    "rank nan",
    "rank wrap",
    "rank first",
    "rank warm-up",
    "cat shift",
    "cat wrap",
}

#: the chunk sizes the stream is fed in (one value, a test's worth, a polled batch)
CHUNKS = (1, 25, 1000)


def _make(kind: str, params: dict[str, Any], old: bool = False) -> Detector:
    guards = {"cooldown": 300}
    if kind == "rank":
        cls: type[Detector] = ResortingRankWindow if old else RankWindowDetector
    else:
        cls = OneByOneCategoryWindow if old else CategoryWindowDetector
    return cls(events_per_day=864_000.0, **guards, **params)


def _state_digest(det: Detector) -> str:
    blob = json.dumps(det.export_state(), sort_keys=True, allow_nan=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def trace(
    det: Detector, values: list[Any], chunk: int, events: bool = True, round_trip: bool = True
) -> dict[str, Any]:
    """Feed ``values`` in chunks; detections, statistic after each chunk, final state.

    With ``events``, the budget changes at a third of the stream (the threshold is set
    again at the next test) and, with ``round_trip`` too, the detector goes through
    export/import at two thirds (a state holding NaN is refused on import: not then).
    """
    hits: list[int] = []
    stats: list[float] = []
    n = len(values)
    for lo in range(0, n, chunk):
        if events and lo <= n // 3 < lo + chunk:
            det.join_family(  # type: ignore[attr-defined]
                AlarmBudget(false_alarms_per_stream_per_day=0.5), lambda: 3
            )
        if events and round_trip and lo <= 2 * n // 3 < lo + chunk:
            fresh = det.clone()
            fresh.import_state(json.loads(json.dumps(det.export_state())))
            det = fresh
        part = values[lo : lo + chunk]
        i = det.feed(part)
        while i >= 0:
            hits.append(lo + i)
            stats.append(det.statistic)
            i = det.feed(part, i + 1)
        if (lo + chunk) % 25 == 0 or lo + chunk >= n:  # after every test at most
            stats.append(det.statistic)
    return {"hits": hits, "stats": stats, "state": _state_digest(det)}


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_same_as_the_old_algorithm(name: str, chunk: int) -> None:
    kind, params, stream = SCENARIOS[name]
    values = stream()
    new, old = _make(kind, params), _make(kind, params, old=True)
    trip = "nan" not in name
    got, want = (
        trace(new, values, chunk, round_trip=trip),
        trace(old, values, chunk, round_trip=trip),
    )
    assert got == want
    if name in DETECTING:
        assert got["hits"], "the scenario should exercise a detection"


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_same_as_recorded_before_the_change(name: str) -> None:
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))[name]
    kind, params, stream = SCENARIOS[name]
    values = stream()
    for chunk in CHUNKS:
        got = trace(_make(kind, params), values, chunk, round_trip="nan" not in name)
        assert got == recorded[str(chunk)], chunk


def test_a_gap_between_tests_sorts_afresh() -> None:
    """Pinning a reference and unpinning it skips sliding tests: the next one sorts anew."""
    values = _gauss(21, 4000, shift_at=3000)
    new, old = _make("rank", RANK_SMALL), _make("rank", RANK_SMALL, old=True)
    for det in (new, old):
        assert isinstance(det, RankWindowDetector)
        det.feed(values[:1000])
        det.pin_reference(np.asarray(values[:300]))
        det.feed(values[1000:1100])
        det.pin_reference(None)
    assert trace(new, values[1100:], 25, events=False) == trace(
        old, values[1100:], 25, events=False
    )


def record() -> None:
    """Write ``window_trace.json`` with the code as it is (run before changing it)."""
    out = {
        name: {
            str(chunk): trace(_make(kind, params), stream(), chunk, round_trip="nan" not in name)
            for chunk in CHUNKS
        }
        for name, (kind, params, stream) in SCENARIOS.items()
    }
    RECORDED.write_text(json.dumps(out, indent=1, allow_nan=True) + "\n", encoding="utf-8")


if __name__ == "__main__" and "--record" in sys.argv:
    record()
