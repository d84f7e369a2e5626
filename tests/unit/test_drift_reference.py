"""References without a broker: the first N events of a version, an uploaded profile,
profile validation, and the distances reported with a detection."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from detectors.drift.distances import distances
from detectors.drift.rank_window import RankWindowDetector
from detectors.drift.reference import ReferenceProfile, pin_from_profile
from detectors.registry import DetectorRegistry
from detectors.specs import DetectorSpecs


def hits(det: RankWindowDetector, values: np.ndarray) -> list[int]:
    data, out = values.tolist(), []
    i = det.feed(data)
    while i >= 0:
        out.append(i)
        i = det.feed(data, i + 1)
    return out


def test_first_events_reference_sees_a_slow_ramp_a_sliding_one_does_not() -> None:
    rng = np.random.default_rng(3)
    ramp = rng.normal(0.0, 1.0, 40_000) + np.linspace(0.0, 2.0, 40_000)  # 2 sd over 40k values
    sliding = RankWindowDetector(events_per_day=864_000)
    first = RankWindowDetector(events_per_day=864_000, reference="first", cooldown=100_000)
    assert hits(sliding, ramp) == []
    found = hits(first, ramp)
    assert len(found) == 1 and 2200 < found[0] < 30_000
    assert first.explain()["reference_kind"] == 1.0


def test_profile_pins_the_reference_and_unpinning_restores_the_sliding_one() -> None:
    profile = ReferenceProfile.model_validate(
        {"features": {"x": {"histogram": {"edges": [0, 1, 2, 3], "counts": [1, 2, 1]}}}}
    )
    det = RankWindowDetector(events_per_day=864_000, window_size=100, cooldown=10_000)
    assert pin_from_profile(det, profile, "x")
    rng = np.random.default_rng(8)
    same = rng.triangular(0.0, 1.5, 3.0, 5000)
    assert hits(det, same) == []
    shifted = rng.triangular(0.5, 2.0, 3.0, 300)
    assert len(hits(det, shifted)) == 1
    assert not pin_from_profile(det, None, "x")
    assert det.explain()["reference_kind"] == 0.0


def test_registry_pins_profiles_from_the_specs_and_on_live_change() -> None:
    base = {"defaults": {"numeric": [{"kind": "rank_window", "params": {"window_size": 50}}]}}
    reg = DetectorRegistry(DetectorSpecs.model_validate(base))
    reg.observe("m", "1", {"x": 1.0}, {}, ts=0.0)
    det = reg._watches["m/1/x/rank_window"].detector
    assert isinstance(det, RankWindowDetector) and det._profile is None
    prof = {"features": {"x": {"quantiles": {"probs": [0, 1], "values": [0, 10]}}}}
    reg.replace_specs(DetectorSpecs.model_validate({**base, "references": {"m": prof}}))
    assert det._profile is not None and det._profile.shape == (2000,)


@pytest.mark.parametrize(
    ("feature", "problem"),
    [
        ({"quantiles": {"probs": [0, 0.5, 0.5], "values": [1, 2, 3]}}, "strictly increasing"),
        ({"quantiles": {"probs": [0, 1.5], "values": [1, 2]}}, "[0, 1]"),
        ({"quantiles": {"probs": [0, 1], "values": [1, float("inf")]}}, "finite"),
        ({"histogram": {"edges": [0, 1], "counts": [0]}}, "positive sum"),
        ({"categories": {"a": 1.0}, "histogram": {"edges": [0, 1], "counts": [1]}}, "exactly one"),
    ],
)
def test_profile_validation_names_the_problem(feature: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match="features.x") as exc:
        ReferenceProfile.model_validate({"features": {"x": feature}})
    assert problem in str(exc.value)


def test_distances_grow_with_the_shift() -> None:
    rng = np.random.default_rng(1)
    ref = np.sort(rng.lognormal(0.0, 1.0, 2000))
    small = distances(ref, rng.lognormal(0.1, 1.0, 500))
    large = distances(ref, rng.lognormal(0.8, 1.0, 500))
    for key in ("psi", "jensen_shannon", "wasserstein", "ks"):
        assert 0.0 <= small[key] < large[key]
    assert large["ks"] <= 1.0 and large["jensen_shannon"] <= 1.0
