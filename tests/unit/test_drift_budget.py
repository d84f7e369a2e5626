"""The false-alarm budget: conversion to a per-test rate, the family split, calibration
on the stream, and no false alarm on stationary streams of awkward shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from detectors.drift.budget import AlarmBudget, per_test_alpha, stream_budget, z_for
from detectors.drift.rank_window import RankWindowDetector
from detectors.registry import DetectorRegistry
from detectors.specs import DetectorSpecs

DAY = 86_400.0


def hits(det: RankWindowDetector, values: np.ndarray) -> list[int]:
    out: list[int] = []
    data = values.tolist()
    i = det.feed(data)
    while i >= 0:
        out.append(i)
        i = det.feed(data, i + 1)
    return out


@pytest.mark.parametrize(
    ("per_stream", "per_model", "family", "expected"),
    [
        (0.01, None, 50, 0.01),
        (0.01, 0.1, 5, 0.01),  # the family share (0.02) is above the stream's own budget
        (0.01, 0.1, 20, 0.005),
        (1.0, 2.0, 1, 1.0),
    ],
)
def test_family_split(
    per_stream: float, per_model: float | None, family: int, expected: float
) -> None:
    budget = AlarmBudget(
        false_alarms_per_stream_per_day=per_stream, false_alarms_per_model_per_day=per_model
    )
    assert stream_budget(budget, family) == pytest.approx(expected)


def test_alpha_spends_the_budget_per_day() -> None:
    alpha = per_test_alpha(0.01, 864_000.0, 25)
    assert alpha * 864_000.0 / 25 == pytest.approx(0.01)
    assert per_test_alpha(1e9, 10.0, 1) == 0.01  # capped: never a flood of alarms
    assert z_for(alpha, 2) > z_for(alpha, 1) > 4.0


def test_budget_in_yaml_and_bad_values_named() -> None:
    specs = DetectorSpecs.from_yaml(
        "budget: {false_alarms_per_stream_per_day: 0.001, false_alarms_per_model_per_day: 0.01}\n"
        "defaults:\n  numeric:\n    - kind: rank_window\n      params: {window_size: 300}\n"
    )
    assert specs.budget.false_alarms_per_stream_per_day == 0.001
    with pytest.raises(ValidationError, match="false_alarms_per_stream_per_day"):
        DetectorSpecs.from_yaml("budget: {false_alarms_per_stream_per_day: -1}")
    with pytest.raises(ValidationError, match="window_size"):
        DetectorSpecs.from_yaml(
            "defaults:\n  numeric:\n    - kind: rank_window\n"
            "      params: {window_size: 5000, reference_size: 1000}\n"
        )


def test_registry_measures_rate_and_splits_the_model_budget() -> None:
    specs = DetectorSpecs.model_validate(
        {
            "budget": {"false_alarms_per_model_per_day": 0.05},
            "defaults": {"numeric": [{"kind": "rank_window"}]},
        }
    )
    reg = DetectorRegistry(specs)
    rng = np.random.default_rng(4)
    rows = rng.lognormal(0.0, 2.0, size=(2400, 10))
    for i, row in enumerate(rows):  # 10 events per second
        reg.observe("m", "1", {f"f{k}": float(v) for k, v in enumerate(row)}, {}, ts=i / 10.0)
    info = reg.get("m/1/f3/rank_window")
    det = reg._watches["m/1/f3/rank_window"].detector
    assert isinstance(det, RankWindowDetector)
    assert det.alarm_rate_per_day() == pytest.approx(0.05 / 10)
    assert det._rate == pytest.approx(864_000.0, rel=0.01)
    assert info.state["n_detections"] == 0


SHAPES = {
    "gauss": lambda r, n: r.normal(0.0, 1.0, n),
    "lognormal": lambda r, n: r.lognormal(0.0, 2.0, n),
    "pareto": lambda r, n: r.pareto(2.5, n),
    "poisson": lambda r, n: r.poisson(1.5, n).astype(float),
    "zero_inflated": lambda r, n: np.where(r.random(n) < 0.8, 0.0, r.exponential(5.0, n)),
    "bimodal": lambda r, n: np.where(r.random(n) < 0.5, r.normal(-3, 1, n), r.normal(3, 1, n)),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_stationary_shapes_raise_no_alarm_and_a_shift_is_found(shape: str) -> None:
    rng = np.random.default_rng([7, len(shape)])
    make = SHAPES[shape]
    stationary = make(rng, 60_000)
    assert hits(RankWindowDetector(events_per_day=864_000), stationary) == []
    before, after = make(rng, 4000), make(rng, 2000)
    sd = float(np.std(before))
    found = hits(RankWindowDetector(events_per_day=864_000), np.concatenate([before, after + sd]))
    assert found and 4000 <= found[0] < 4000 + 600


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(allow_nan=False, allow_infinity=False),
            st.sampled_from([0.0, 1.0, -1e308, 1e308]),
        ),
        min_size=0,
        max_size=400,
    )
)
def test_any_finite_values_never_crash(values: list[float]) -> None:
    det = RankWindowDetector(reference_size=100, window_size=20, check_every=5, bootstrap=20)
    for x in values * 3:
        det.update(x)
        assert math.isfinite(det.statistic)
