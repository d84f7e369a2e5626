"""observe_batch gives what observe per event gives: detectors, their states, detections.

The detect stage feeds the registry a batch per model version at a time
(``DetectorRegistry.observe_batch``, each detector learning its run of values in
one ``Detector.feed`` call). These tests run the same events through a registry
per event and through another in random batches, with every detector kind,
sensitive parameters (so detections happen), features that appear mid-batch,
nulls, NaN, wrong types, and limits that refuse features and detectors.
"""

from __future__ import annotations

import math
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from detectors.base import Detector
from detectors.registry import DetectorRegistry
from detectors.specs import DetectorSpecs
from service.metrics import GuardianMetrics

GUARDS = {"warm_up": 3, "min_samples": 10, "cooldown": 15}

SPECS = {
    "limits": {"max_models": 3, "max_features_per_model": 4, "max_detectors": 60},
    "statistic_every": 7,
    "defaults": {
        "numeric": [
            {"kind": "adwin", "params": {"delta": 0.05, "clock": 1}, **GUARDS},
            {"kind": "page_hinkley", **GUARDS},
            {"kind": "kswin", **GUARDS},
        ],
        "score": [{"kind": "adwin", "params": {"delta": 0.05, "clock": 1}, **GUARDS}],
        "categorical": [
            {
                "kind": "categorical",
                "params": {"reference_size": 20, "window_size": 10, "check_every": 2},
                **GUARDS,
            }
        ],
        "prediction": [
            {
                "kind": "categorical",
                "params": {"reference_size": 20, "window_size": 10, "check_every": 3},
                **GUARDS,
            }
        ],
        "missing": [
            {"kind": "missing_rate", "params": {"delta": 0.05, "grace_period": 5}, **GUARDS},
            {"kind": "ddm", **GUARDS},
            {"kind": "fhddm", **GUARDS},
            {"kind": "eddm", **GUARDS},
            {"kind": "hddm_w", **GUARDS},
        ],
    },
}

MODELS = [("m1", "1"), ("m1", "2"), ("m2", "1"), ("m3", "1")]  # the fourth exceeds max_models


def _value(rng: random.Random, name: str, i: int) -> Any:
    shifted = i > 120
    roll = rng.random()
    if roll < (0.4 if shifted and name == "f1" else 0.05):
        return None  # missing rate shifts for f1
    if name == "c":
        return rng.choice("ABC" if not shifted else "CCCD")
    if roll < 0.07:
        return rng.choice(["oops", True, math.nan])  # wrong type / NaN: skipped
    return rng.gauss(5.0 if shifted else 0.0, 1.0)


def make_events(seed: int, n: int) -> list[tuple[str, str, dict[str, Any], dict[str, Any], float]]:
    rng = random.Random(seed)
    names = ["f0", "f1", "c", "f2", "f3", "f4"]  # f3, f4: over max_features_per_model
    out = []
    for i in range(n):
        model, version = rng.choice(MODELS)
        present = [nm for j, nm in enumerate(names) if i >= j * 15 and rng.random() < 0.9]
        features = {nm: _value(rng, nm, i) for nm in present}
        outputs: dict[str, Any] = {}
        if i >= 10 and rng.random() < 0.9:
            outputs["score"] = rng.random() * (0.2 if i < 150 else 1.0)
        if i >= 25 and rng.random() < 0.9:
            outputs["prediction"] = rng.random() < (0.2 if i < 150 else 0.8)
        out.append((model, version, features, outputs, float(i)))
    return out


def _run(events: list[Any], cuts: list[int] | None) -> tuple[DetectorRegistry, list[Any]]:
    reg = DetectorRegistry(
        DetectorSpecs.model_validate(SPECS), GuardianMetrics(CollectorRegistry())
    )
    results = []
    if cuts is None:
        for model, version, features, outputs, ts in events:
            results += reg.observe(model, version, features, outputs, ts)
    else:
        bounds = [0, *sorted(set(cuts)), len(events)]
        for lo, hi in zip(bounds, bounds[1:], strict=False):
            results += reg.observe_batch(events[lo:hi])
    return reg, results


def _key(r: Any) -> tuple[Any, ...]:
    return (r.detector_id, r.n_seen, r.at, r.statistic, r.feature, r.detector, r.details)


def _same(events: list[Any], cuts: list[int]) -> list[Any]:
    per_event, expected = _run(events, None)
    batched, got = _run(events, cuts)
    # repr: equal NaNs (a NaN fed to a numeric detector stays in its state) compare equal.
    assert repr(batched.export_state()) == repr(per_event.export_state())  # and creation order
    assert repr(sorted(map(_key, got))) == repr(sorted(map(_key, expected)))
    return expected


def test_one_batch_and_many_batches_match_per_event_with_detections() -> None:
    events = make_events(3, 400)
    expected = _same(events, [])  # the whole stream as one batch
    _same(events, list(range(7, 400, 37)))
    kinds = {r.detector for r in expected}
    # The comparison covered detections of several kinds (the stream shifts at event 120).
    assert len(expected) >= 5 and "adwin" in kinds and len(kinds) >= 3


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 260),
    cuts=st.lists(st.integers(1, 259), max_size=12),
)
def test_any_batching_matches_per_event(seed: int, n: int, cuts: list[int]) -> None:
    _same(make_events(seed, n), [c for c in cuts if c < n])


@given(values=st.lists(st.floats(-5, 5), max_size=80), start=st.integers(0, 5))
def test_feed_is_update_until_a_detection(values: list[float], start: int) -> None:
    def fresh() -> Detector:
        spec = DetectorSpecs.model_validate(SPECS).defaults.numeric[0]
        return spec.build()

    fed, stepped = fresh(), fresh()
    stop = fed.feed(values, start)
    expected = -1
    for i in range(start, len(values)):
        if stepped.update(values[i]).drift_detected:
            expected = i
            break
    assert stop == expected
    assert fed.export_state() == stepped.export_state()
    assert (fed.n_seen, fed.drift_detected) == (stepped.n_seen, stepped.drift_detected)
