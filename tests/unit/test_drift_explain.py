"""A budgeted drift alert explains itself: feature, segment, reference, statistic,
threshold, calibrated alarm rate, and quantiles before and after (never a value)."""

from __future__ import annotations

import numpy as np

from detectors.drift.explain import describe
from detectors.registry import DetectorRegistry
from detectors.specs import DEFAULT_PATH, DetectorSpecs
from service.alerting import AlertEngine, load_rules

HAND_SET = DEFAULT_PATH.parent / "presets" / "hand_set.yaml"


def test_alert_of_a_budgeted_detection_explains_itself() -> None:
    specs = DetectorSpecs.model_validate({"defaults": {"numeric": [{"kind": "rank_window"}]}})
    reg = DetectorRegistry(specs)
    rng = np.random.default_rng(11)
    ages = np.concatenate([rng.normal(40.0, 10.0, 5000), rng.normal(55.0, 10.0, 1000)])
    incomes = rng.lognormal(10.0, 1.0, 6000)
    found = []
    for i in range(6000):
        features = {"age": float(ages[i]), "income": float(incomes[i])}
        found += reg.observe("credit", "1", features, {}, ts=i / 10.0)
    (hit,) = found
    assert hit.feature == "age" and 5000 <= hit.n_seen < 5400
    notes = describe(hit)
    assert notes["feature"] == "age" and notes["segment"] == "all"
    assert notes["reference"] == "the 2000 values before the latest 200"
    assert notes["alarm_rate_per_day"] == "0.01"  # min(0.01 per stream, 0.1 per model / 2)
    assert notes["threshold"].startswith("|z| > ")
    before_median = float(notes["before"].split("median ")[1].split(",")[0])
    after_median = float(notes["after"].split("median ")[1].split(",")[0])
    assert 35 < before_median < 45 < after_median < 60

    engine = AlertEngine(load_rules())
    engine.ingest(hit, now=1000.0)
    (alert,) = engine.list_alerts(now=1000.0)
    for key in ("feature", "segment", "reference", "statistic", "threshold", "before", "after"):
        assert alert.annotations[key] == notes[key]
    description = alert.annotations["description"]
    assert description.startswith(f"rank_window saw a change after {hit.n_seen} values: ")
    assert "age (segment all) changed against the 2000 values" in description


def test_hand_set_detections_keep_the_short_description() -> None:
    reg = DetectorRegistry(DetectorSpecs.load(HAND_SET))
    rng = np.random.default_rng(2)
    values = np.concatenate([rng.normal(0, 1, 3000), rng.normal(2, 1, 1000)])
    hits = []
    for i, v in enumerate(values):
        hits += reg.observe("m", "1", {"x": float(v)}, {}, ts=float(i))
    assert hits and set(describe(hits[0])) == {"description"}


def test_a_categorical_alert_names_moved_categories_by_hash_never_by_value() -> None:
    from detectors.drift.categorical import category_hash

    specs = DetectorSpecs.model_validate(
        {"defaults": {"categorical": [{"kind": "category_window"}]}}
    )
    reg = DetectorRegistry(specs)
    rng = np.random.default_rng(5)
    plans = ["basic-plan", "gold-plan", "platinum-plan"]
    before = rng.choice(plans, 6000, p=[0.6, 0.3, 0.1])
    after = rng.choice(plans, 2000, p=[0.2, 0.3, 0.5])
    hits = []
    for i, plan in enumerate([*before, *after]):
        hits += reg.observe("credit", "1", {"plan": str(plan)}, {}, ts=i / 10.0)
    assert hits, "the frequency change is found"
    notes = describe(hits[0])

    def share(side: str, plan: str) -> float:
        name = f"category #{category_hash(plan) >> 24:06x} "
        (part,) = [p for p in notes[side].split(", ") if p.startswith(name)]
        return float(part.removeprefix(name).rstrip("%"))

    assert share("before", "platinum-plan") < share("after", "platinum-plan")
    assert share("before", "basic-plan") > share("after", "basic-plan")
    assert "G-test statistic" in notes["description"]
    assert not any(p in text for p in plans for text in notes.values())
