"""The false-alarm budget is the default: shipped specs, the demo's drift, category_window."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from detectors.drift.category_window import CategoryWindowDetector
from detectors.drift.ranks import cornish_fisher, scale_skewness
from detectors.registry import DetectorRegistry
from detectors.specs import DEFAULT_PATH, DetectorSpecs
from service.control.live import parse_specs, validate_patch
from service.control.policies import ConfigInvalid
from service.demo.stream import DemoConfig, DemoStream

HAND_SET = DEFAULT_PATH.parent / "presets" / "hand_set.yaml"


def test_shipped_and_class_defaults_are_budgeted_and_hand_set_stays_available() -> None:
    for specs in (DetectorSpecs.load(), DetectorSpecs()):
        kinds = {t: [s.kind for s in getattr(specs.defaults, t)] for t in ("numeric", "score")}
        assert kinds == {"numeric": ["rank_window"], "score": ["rank_window"]}
        for ftype in ("categorical", "prediction"):
            assert [s.kind for s in getattr(specs.defaults, ftype)] == ["category_window"]
        assert specs.budget.false_alarms_per_stream_per_day == 0.01
        assert specs.budget.false_alarms_per_model_per_day == 0.1
    hand_set = DetectorSpecs.load(HAND_SET)
    (adwin,) = hand_set.defaults.numeric
    assert adwin.kind == "adwin" and adwin.params["delta"] == 1.0e-6
    assert [s.kind for s in hand_set.defaults.categorical] == ["categorical"]


def _feed_demo(reg: DetectorRegistry, n: int, drift_at: int) -> list[Any]:
    hits = []
    for record in DemoStream(DemoConfig(seed=7, drift_at=drift_at)):
        if record.index >= n:
            break
        event = record.event
        if event is None or "inputs" not in event:
            continue
        model = event["model"]
        ts = 1_764_504_000.0 + record.index * 0.01  # the demo's 10 ms steps
        hits += reg.observe(
            model["name"], model["version"], event["inputs"]["features"], event["outputs"], ts=ts
        )
    return hits


def test_the_demos_income_drift_is_found_with_the_default_config() -> None:
    """`python -m service.demo.run` shifts income by 2 sigma after event 6,000 (3 models)."""
    reg = DetectorRegistry(DetectorSpecs.load())
    hits = _feed_demo(reg, 9000, drift_at=6000)
    income = [h for h in hits if h.feature == "income"]
    assert income and income[0].detector == "rank_window" and income[0].model == "credit-risk"
    # credit-risk gets every third event: the shift is found within 300 of its own values
    assert income[0].n_seen <= 6000 // 3 + 300
    # only credit-risk changed (income drives its score and prediction too)
    assert {h.model for h in hits} == {"credit-risk"}
    assert {h.feature for h in hits} <= {"income", "outputs.score", "outputs.prediction"}


def test_budget_patches_and_specs_are_validated_naming_the_field() -> None:
    assert validate_patch("rank_window", {}, {"false_alarms_per_day": 0.001})[
        "false_alarms_per_day"
    ] == pytest.approx(0.001)
    for kind in ("rank_window", "category_window"):
        with pytest.raises(ConfigInvalid) as exc:
            validate_patch(kind, {}, {"false_alarms_per_day": -1.0})
        assert [p.split(":")[0] for p in exc.value.problems] == ["params.false_alarms_per_day"]
    with pytest.raises(ConfigInvalid) as bad:
        parse_specs({"budget": {"false_alarms_per_stream_per_day": 0.0}})
    assert [p.split(":")[0] for p in bad.value.problems] == [
        "budget.false_alarms_per_stream_per_day"
    ]
    specs = parse_specs({"budget": {"false_alarms_per_model_per_day": None}})
    assert specs.budget.false_alarms_per_model_per_day is None


def test_category_window_in_the_registry_quiet_on_many_rare_categories_then_fires() -> None:
    reg = DetectorRegistry(DetectorSpecs.load())
    rng = np.random.default_rng(11)
    n, change = 30_000, 24_000
    # 1,000 categories, most of them rare (Zipf), then the head's frequencies change
    cats = np.minimum(rng.zipf(1.5, n), 1000)
    cats[change:] = np.where(rng.random(n - change) < 0.3, 2, cats[change:])
    hits = []
    for i, c in enumerate(cats):
        hits += reg.observe("m", "1", {"plan": f"p{c}"}, {}, ts=float(i))
    assert [(h.feature, h.detector) for h in hits] == [("plan", "category_window")]
    assert change <= hits[0].at < change + 1000
    notes = hits[0].details
    assert notes["score"] > 1.0 and notes["alarm_rate_per_day"] == pytest.approx(0.01)


def test_category_window_checkpoint_round_trip_keeps_no_category_text() -> None:
    rng = np.random.default_rng(4)
    values = [f"secret-{i}" for i in rng.integers(0, 80, 7000)]
    a = CategoryWindowDetector(events_per_day=86_400)
    for v in values[:6000]:
        a.update(v)
    state = json.loads(json.dumps(a.export_state()))
    assert "secret" not in json.dumps(state)
    b = CategoryWindowDetector(events_per_day=86_400)
    b.import_state(state)
    for v in values[6000:]:
        assert a.update(v).drift_detected == b.update(v).drift_detected
    assert a.export_state() == b.export_state()


def test_scale_statistic_upper_critical_value_moves_out_by_its_skewness() -> None:
    skew = scale_skewness(2000, 200)
    assert skew == pytest.approx(0.0388, abs=2e-3)
    assert cornish_fisher(5.26, skew) == pytest.approx(5.43, abs=0.01)


def test_a_new_budget_reaches_running_detectors() -> None:
    reg = DetectorRegistry(DetectorSpecs.load())
    rng = np.random.default_rng(5)
    for i, v in enumerate(rng.normal(0, 1, 2300)):
        reg.observe("m", "1", {"x": float(v)}, {}, ts=float(i))
    det = reg._watches["m/1/x/rank_window"].detector
    before = det.explain()["alarm_rate_per_day"]
    assert before == pytest.approx(0.01)
    budget = {"false_alarms_per_stream_per_day": 0.0001, "false_alarms_per_model_per_day": None}
    reg.replace_specs(DetectorSpecs.model_validate({**_shipped(), "budget": budget}))
    assert reg._watches["m/1/x/rank_window"].detector is det  # kept, with its state
    for i, v in enumerate(rng.normal(0, 1, 25), start=2300):
        reg.observe("m", "1", {"x": float(v)}, {}, ts=float(i))
    assert det.explain()["alarm_rate_per_day"] == pytest.approx(0.0001)


def _shipped() -> dict[str, Any]:
    import yaml

    data: dict[str, Any] = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    return data
