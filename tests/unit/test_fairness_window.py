"""The fairness window: sliding, late labels, duplicates, state export and remapping."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from detectors.fairness.config import FairnessConfig, ModelFairnessConfig
from detectors.fairness.window import MISSING, FairnessWindow, event_key
from service.metrics import OTHER


def make(attributes=None, **kwargs) -> FairnessWindow:
    cfg = ModelFairnessConfig(attributes=attributes or {"gender": ("f", "m")}, **kwargs)
    return FairnessWindow(cfg)


def counts(window: FairnessWindow, dim: int = 0) -> dict[str, tuple[int, ...]]:
    return {
        label: (t.n, t.selected, t.tp, t.fn, t.fp, t.tn)
        for label, t in zip(window.dimensions[dim].labels, window.tallies(dim), strict=True)
    }


def test_count_window_evicts_oldest_and_uncounts_its_label() -> None:
    w = make(window={"size": 2})
    w.add("a", 0.0, {"gender": "f"}, 1)
    assert w.add_label("a", 1)
    w.add("b", 1.0, {"gender": "m"}, 0)
    assert counts(w)["f"] == (1, 1, 1, 0, 0, 0)
    w.add("c", 2.0, {"gender": "m"}, 1)
    assert len(w) == 2
    assert counts(w)["f"] == (0, 0, 0, 0, 0, 0)
    assert counts(w)["m"] == (2, 1, 0, 0, 0, 0)
    assert not w.add_label("a", 1)  # evicted: the label cannot join any more


def test_time_window_uses_event_time_and_explicit_now() -> None:
    w = make(window={"size": None, "seconds": 10.0})
    for i in range(5):
        w.add(f"e{i}", float(i * 5), {"gender": "f"}, 1)  # ts 0, 5, 10, 15, 20
    assert w.evict() == 2  # cutoff 20 - 10 = 10 keeps 10, 15, 20
    assert len(w) == 3
    assert w.evict(now=100.0) == 3
    assert counts(w)["f"][0] == 0


def test_late_label_joins_and_a_corrected_label_replaces_it() -> None:
    w = make()
    w.add("a", 0.0, {"gender": "f"}, 1)
    assert w.add_label("a", 0)
    assert counts(w)["f"] == (1, 1, 0, 0, 1, 0)
    assert w.add_label("a", 1)
    assert counts(w)["f"] == (1, 1, 1, 0, 0, 0)
    assert not w.add_label("never-seen", 1)


def test_redelivered_event_is_counted_once() -> None:
    w = make()
    assert w.add("a", 0.0, {"gender": "f"}, 1)
    assert not w.add("a", 0.0, {"gender": "f"}, 1)
    assert counts(w)["f"][0] == 1
    # events without an id cannot be deduplicated or joined, but still count
    assert w.add(None, 1.0, {"gender": "f"}, 0)
    assert w.add(None, 1.0, {"gender": "f"}, 0)
    assert counts(w)["f"][0] == 3


def test_values_outside_the_configured_groups_become_other() -> None:
    w = make()
    for i, raw in enumerate(["F", "female", "x", 7, "m"]):
        w.add(f"e{i}", 0.0, {"gender": raw}, 1)
    c = counts(w)
    assert (c["f"][0], c["m"][0], c[OTHER][0]) == (0, 1, 4)
    assert w.dimensions[0].labels == ("f", "m", OTHER)


def test_missing_attribute_is_left_out_of_that_attribute_only() -> None:
    w = make({"gender": ("f", "m"), "age_band": ("young", "old")})
    w.add("a", 0.0, {"age_band": "old"}, 1)
    assert sum(c[0] for c in counts(w, 0).values()) == 0
    assert counts(w, 1)["old"][0] == 1
    assert w.base_ids({}) == (MISSING, MISSING)


def test_intersections_count_pairs() -> None:
    w = make({"gender": ("f", "m"), "age": ("a", "b")}, intersections=[("gender", "age")])
    w.add("1", 0.0, {"gender": "f", "age": "b"}, 1)
    w.add("2", 0.0, {"gender": "zz", "age": "a"}, 0)
    w.add("3", 0.0, {"gender": "m"}, 0)  # no age: not in the intersection
    dim = w.dimensions[2]
    assert dim.name == "gender&age"
    c = counts(w, 2)
    assert c["f&b"][0] == 1 and c[f"{OTHER}&a"][0] == 1
    assert sum(v[0] for v in c.values()) == 2


def test_window_holds_no_raw_text() -> None:
    w = make()
    w.add("secret-event-id", 0.0, {"gender": "jane.doe@example.com"}, 1)
    dumped = json.dumps(w.export_state())
    assert "jane" not in dumped and "secret-event-id" not in dumped
    assert str(event_key("secret-event-id")) in dumped


def test_state_round_trips_through_json() -> None:
    w = make(window={"size": 50, "seconds": 100.0})
    for i in range(30):
        w.add(f"e{i}", float(i), {"gender": "fm?"[i % 3]}, i % 2)
        if i % 4 == 0:
            w.add_label(f"e{i}", i % 3 == 0)
    state = json.loads(json.dumps(w.export_state()))
    restored = FairnessWindow.from_state(w.config, state)
    assert counts(restored) == counts(w)
    assert len(restored) == len(w) and restored.watermark == w.watermark
    assert restored.add_label("e29", 1)  # keys survive, so late labels still join


def test_state_is_remapped_by_label_under_a_new_config() -> None:
    old = make({"gender": ("f", "m", "x")})
    old.add("a", 0.0, {"gender": "x"}, 1)
    old.add("b", 0.0, {"gender": "m"}, 1)
    old.add("c", 0.0, {"gender": "f"}, 0)
    new_cfg = ModelFairnessConfig(
        attributes={"age": ("a",), "gender": ("m", "f")}, window={"size": 2}
    )
    new = FairnessWindow.from_state(new_cfg, old.export_state())
    assert len(new) == 2  # shrunk to the new size, oldest dropped
    c = counts(new, 1)
    assert (c["m"][0], c["f"][0], c[OTHER][0]) == (1, 1, 0)
    assert sum(v[0] for v in counts(new, 0).values()) == 0  # new attribute: missing in old events


def test_unknown_state_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version"):
        FairnessWindow.from_state(make().config, {"version": 99})


# --------------------------------------------------------------------------- config
def test_default_config_file_loads() -> None:
    cfg = FairnessConfig.load("config/fairness.yaml")
    entry = cfg.for_model("credit-risk")
    assert entry is not None
    assert entry.attributes["gender"] == ("f", "m", "x")
    assert entry.metrics["demographic_parity_ratio"] == 0.8


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"attributes": {}}, "at least one protected attribute"),
        ({"attributes": {"g": ["f", "f"]}}, "twice"),
        ({"attributes": {"g": ["__other__"]}}, "reserved"),
        ({"attributes": {"g": ["a"]}, "intersections": [["g", "h"]]}, "unknown attribute"),
        ({"attributes": {"g": ["a"]}, "window": {"size": None, "seconds": None}}, "window needs"),
        ({"attributes": {"g": ["a"]}, "metrics": {"demographic_parity_ratio": 1.5}}, "ratio"),
        ({"attributes": {"g": ["a"]}, "metrics": {"accuracy": 0.1}}, "metrics"),
        ({"attributes": {"g": ["a"]}, "confidence": 1.0}, "confidence"),
    ],
)
def test_invalid_config_is_rejected(entry: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FairnessConfig.from_mapping({"models": [entry]})


def test_first_matching_glob_wins() -> None:
    cfg = FairnessConfig.from_mapping(
        {
            "models": [
                {"model": "credit-*", "attributes": {"gender": ["f"]}, "min_group_size": 5},
                {"model": "*", "attributes": {"age": ["a"]}},
            ]
        }
    )
    assert cfg.for_model("credit-risk").min_group_size == 5
    assert "age" in cfg.for_model("chatbot").attributes
    assert FairnessConfig().for_model("anything") is None


@pytest.mark.parametrize(
    "value, score, expected",
    [
        (1, None, 1),
        (True, None, 1),
        ("approve", None, 1),
        (1.0, None, 1),
        (0, None, 0),
        ("deny", None, 0),
        (None, None, 0),
        ("1", None, 1),
        (0, 0.7, 1),
        (1, 0.2, 0),
    ],
)
def test_prediction_binarisation(value: object, score: float | None, expected: int) -> None:
    entry = ModelFairnessConfig(
        attributes={"g": ("a",)},
        prediction={"positive": [1, True, "1", "approve"], "score_threshold": 0.5},
    )
    assert entry.prediction(value, score) == expected
