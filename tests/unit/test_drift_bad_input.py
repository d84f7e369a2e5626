"""Bad values in features (NaN, ±inf, strings, booleans, huge ints) count as missing.

They reach the missing-rate detector of their feature, never a value detector:
a detector never crashes on them and its state stays the same as if they had
been absent (a NaN would make a mean-based detector useless for good).
"""

from __future__ import annotations

import math
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.drift.values import usable
from detectors.registry import DetectorRegistry
from detectors.specs import DetectorSpecs

M, V = "credit-risk", "1"

BAD_NUMERIC: list[Any] = [math.nan, math.inf, -math.inf, "41", "", True, False, 10**400, -(10**400)]

bad_values = st.one_of(
    st.sampled_from(BAD_NUMERIC),
    st.text(max_size=8),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda x: not math.isfinite(x)),
)


def test_usable_table() -> None:
    assert [usable(v, True) for v in BAD_NUMERIC] == [None] * len(BAD_NUMERIC)
    assert usable(3, True) == 3 and usable(-2.5, True) == -2.5
    assert usable("DE", False) == "DE" and usable(math.nan, False) is None


def _clean_stream(seed: int, n: int) -> list[dict[str, Any]]:
    r = random.Random(seed)
    return [{"age": r.gauss(40.0, 10.0), "country": r.choice("ABC")} for _ in range(n)]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    bad=st.lists(st.tuples(st.integers(0, 599), bad_values), min_size=1, max_size=60),
    batch=st.booleans(),
)
def test_bad_numeric_values_count_as_missing_and_leave_value_detectors_alone(
    seed: int, bad: list[tuple[int, Any]], batch: bool
) -> None:
    clean = _clean_stream(seed, 600)
    dirty = [dict(e) for e in clean]
    for i, value in bad:
        dirty[i]["age"] = value
    spoiled = {i for i, _ in bad}
    reference = [dict(e) for e in clean]
    for i in spoiled:
        del reference[i]["age"]  # what the dirty stream must look like to the detectors

    states = []
    for stream in (dirty, reference):
        reg = DetectorRegistry(DetectorSpecs.load())
        reg.observe(M, V, {"age": 40.0, "country": "A"}, {}, ts=0.0)  # fixes the feature types
        if batch:
            reg.observe_batch([(M, V, f, {"score": 0.5}, float(i)) for i, f in enumerate(stream)])
        else:
            for i, f in enumerate(stream):
                reg.observe(M, V, f, {"score": 0.5}, ts=float(i))
        states.append(reg.export_state())
    assert states[0] == states[1]
    age = states[0][f"{M}/{V}/age/rank_window"]["state"]
    assert age["n_seen"] == 1 + 600 - len(spoiled)
    missing = states[0][f"{M}/{V}/missing:age/missing_rate"]["state"]
    assert missing["n_seen"] == 601


def test_missing_rate_detector_sees_a_burst_of_nan() -> None:
    reg = DetectorRegistry(DetectorSpecs.load())
    r = random.Random(3)
    hits = []
    for i in range(6000):
        age: Any = r.gauss(40.0, 10.0)
        if i >= 3000 and r.random() < 0.3:
            age = r.choice([math.nan, math.inf, "n/a", True])
        hits += reg.observe(M, V, {"age": age}, {}, ts=float(i))
    assert [h.feature for h in hits] == ["missing:age"]
    assert 3000 <= hits[0].at < 3400


def test_nan_score_is_ignored() -> None:
    reg = DetectorRegistry(DetectorSpecs.load())
    for i in range(300):
        reg.observe(M, V, {}, {"score": math.nan if i % 2 else 0.5}, ts=float(i))
    info = reg.get(f"{M}/{V}/outputs.score/rank_window")
    assert info.state["n_seen"] == 150 and math.isfinite(float(info.state["statistic"]))
