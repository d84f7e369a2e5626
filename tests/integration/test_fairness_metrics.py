"""Fairness metrics against Fairlearn on the same window contents (to 1e-9).

The expected window contents are rebuilt independently from the raw stream
(last N events, newer than the time cutoff, labels joined while present), so
these tests check the window's sliding and joining as well as the arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest

from detectors.fairness import metrics as fm
from detectors.fairness.config import ModelFairnessConfig
from detectors.fairness.window import FairnessWindow, GroupTally
from service.metrics import OTHER

TOL = 1e-9
GROUPS = ("f", "m", "x")


def same(ours: float, theirs: float) -> bool:
    theirs = float(theirs)
    if math.isnan(theirs):
        return math.isnan(ours)
    return abs(ours - theirs) <= TOL


@dataclass
class Row:
    event_id: str
    ts: float
    group: str | None  # raw value as published; None = attribute missing
    selected: int
    label: int | None = None


def expected_group(raw: str | None) -> str | None:
    if raw is None:
        return None
    return raw if raw in GROUPS else OTHER


def tallies_of(window: FairnessWindow, dim: int = 0) -> dict[str, GroupTally]:
    return dict(zip(window.dimensions[dim].labels, window.tallies(dim), strict=True))


def assert_matches_fairlearn(groups: dict[str, GroupTally], rows: list[Row]) -> None:
    """Every metric and per-group rate equals Fairlearn's on ``rows``."""
    present = [r for r in rows if r.group is not None]
    if present:
        sens = [expected_group(r.group) for r in present]
        y_pred = np.array([r.selected for r in present])
        y_dummy = np.zeros(len(present), dtype=int)
        assert same(
            fm.demographic_parity_difference(groups),
            demographic_parity_difference(y_dummy, y_pred, sensitive_features=sens),
        )
        assert same(
            fm.demographic_parity_ratio(groups),
            demographic_parity_ratio(y_dummy, y_pred, sensitive_features=sens),
        )
        frame = MetricFrame(
            metrics=selection_rate, y_true=y_dummy, y_pred=y_pred, sensitive_features=sens
        )
        ours = fm.group_rates(groups, "selection_rate")
        assert set(ours) == set(frame.by_group.index)
        for group, value in frame.by_group.items():
            assert same(ours[group], value)
    else:
        assert math.isnan(fm.demographic_parity_difference(groups))
        assert math.isnan(fm.demographic_parity_ratio(groups))

    labelled = [r for r in present if r.label is not None]
    if labelled:
        sens = [expected_group(r.group) for r in labelled]
        y_true = np.array([r.label for r in labelled])
        y_pred = np.array([r.selected for r in labelled])
        assert same(
            fm.equalized_odds_difference(groups),
            equalized_odds_difference(y_true, y_pred, sensitive_features=sens),
        )
        assert same(
            fm.equal_opportunity_difference(groups),
            equal_opportunity_difference(y_true, y_pred, sensitive_features=sens),
        )
        frame = MetricFrame(
            metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=sens,
        )
        tpr = fm.group_rates(groups, "true_positive_rate")
        fpr = fm.group_rates(groups, "false_positive_rate")
        assert set(tpr) == set(fpr) == set(frame.by_group.index)
        for group, row in frame.by_group.iterrows():
            assert same(tpr[str(group)], row["tpr"])
            assert same(fpr[str(group)], row["fpr"])
    else:
        assert math.isnan(fm.equalized_odds_difference(groups))
        assert math.isnan(fm.equal_opportunity_difference(groups))


def window_for(size: int | None = None, seconds: float | None = None) -> FairnessWindow:
    cfg = ModelFairnessConfig(
        attributes={"gender": GROUPS}, window={"size": size, "seconds": seconds}
    )
    return FairnessWindow(cfg)


def feed(window: FairnessWindow, rows: list[Row]) -> None:
    for row in rows:
        protected = {} if row.group is None else {"gender": row.group}
        window.add(row.event_id, row.ts, protected, row.selected)
        if row.label is not None:
            assert window.add_label(row.event_id, row.label)


def rows_of(spec: list[tuple[str | None, int, int | None]]) -> list[Row]:
    return [Row(f"e{i}", float(i), g, s, y) for i, (g, s, y) in enumerate(spec)]


# --------------------------------------------------------------------------- edge cases
EDGE_CASES = {
    "group_with_zero_label_positives": [
        ("f", 1, 0),
        ("f", 0, 0),
        ("m", 1, 1),
        ("m", 0, 1),
        ("m", 1, 0),
        ("x", 0, 0),
    ],
    "group_with_zero_label_negatives": [("f", 1, 1), ("f", 0, 1), ("m", 1, 0), ("m", 1, 1)],
    "nobody_selected_ratio_is_nan": [("f", 0, 0), ("m", 0, 1), ("x", 0, None)],
    "one_group_selected_zero": [("f", 0, 1), ("f", 0, 0), ("m", 1, 1), ("m", 0, 0)],
    "single_group": [("f", 1, 1), ("f", 0, 0), ("f", 1, 0)],
    "unconfigured_values_become_other": [
        ("nonbinary", 1, 1),
        ("F", 0, 0),
        ("m", 1, 1),
        ("m", 1, 0),
        ("", 0, 1),
    ],
    "missing_attribute_is_left_out": [(None, 1, 1), (None, 0, 0), ("f", 1, 1), ("m", 0, 1)],
    "no_labels_yet": [("f", 1, None), ("m", 0, None)],
    "some_groups_unlabelled": [("f", 1, None), ("m", 0, 1), ("m", 1, 0), ("x", 1, None)],
    "empty_window": [],
}


@pytest.mark.parametrize("spec", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_edge_cases_match_fairlearn(spec: list[tuple[str | None, int, int | None]]) -> None:
    rows = rows_of(spec)
    window = window_for(size=100)
    feed(window, rows)
    assert_matches_fairlearn(tallies_of(window), rows)


def test_zero_positive_group_has_tpr_zero_like_sklearn() -> None:
    window = window_for(size=10)
    feed(window, rows_of([("f", 1, 0), ("m", 1, 1), ("m", 0, 1)]))
    groups = tallies_of(window)
    assert fm.group_rates(groups, "true_positive_rate") == {"f": 0.0, "m": 0.5}
    assert fm.equal_opportunity_difference(groups) == 0.5
    assert fm.equalized_odds_difference(groups) == 1.0  # FPR: f 1.0, m 0.0


# --------------------------------------------------------------------------- sliding windows
def expected_contents(
    rows: list[Row], labels: dict[str, int], size: int | None, seconds: float | None
) -> list[Row]:
    """Independent model of the window: arrival order, last ``size``, ts >= max_ts - seconds."""
    kept: list[Row] = []
    watermark = -math.inf
    for row in rows:
        kept.append(Row(row.event_id, row.ts, row.group, row.selected, labels.get(row.event_id)))
        watermark = max(watermark, row.ts)
        if size is not None and len(kept) > size:
            kept.pop(0)
        if seconds is not None:
            while kept and kept[0].ts < watermark - seconds:
                kept.pop(0)
    return kept


def test_count_window_slides_and_matches_fairlearn_at_every_step() -> None:
    rng = np.random.default_rng(7)
    window = window_for(size=25)
    rows: list[Row] = []
    labels: dict[str, int] = {}
    for i in range(120):
        group = str(rng.choice(["f", "m", "x", "other-value"]))
        row = Row(f"e{i}", float(i), group, int(rng.random() < (0.3 if group == "f" else 0.6)))
        rows.append(row)
        window.add(row.event_id, row.ts, {"gender": group}, row.selected)
        window.evict()
        # labels arrive a few events late, only for events still in the window
        if i >= 5 and rng.random() < 0.7:
            late = rows[i - 5]
            label = int(rng.random() < 0.5)
            if window.add_label(late.event_id, label):
                labels[late.event_id] = label
        if i % 10 == 9:
            kept = expected_contents(rows, labels, size=25, seconds=None)
            assert len(window) == len(kept)
            assert_matches_fairlearn(tallies_of(window), kept)


def test_time_window_slides_and_matches_fairlearn() -> None:
    rng = np.random.default_rng(11)
    window = window_for(seconds=30.0)
    rows: list[Row] = []
    labels: dict[str, int] = {}
    ts = 0.0
    for i in range(150):
        ts += float(rng.exponential(1.0))
        group = str(rng.choice(["f", "m", "x"]))
        row = Row(f"e{i}", ts, group, int(rng.random() < 0.5))
        rows.append(row)
        window.add(row.event_id, ts, {"gender": group}, row.selected)
        window.evict()
        if rng.random() < 0.5:
            label = int(rng.random() < 0.5)
            if window.add_label(row.event_id, label):
                labels[row.event_id] = label
        if i % 25 == 24:
            kept = expected_contents(rows, labels, size=None, seconds=30.0)
            assert len(window) == len(kept)
            assert_matches_fairlearn(tallies_of(window), kept)


# --------------------------------------------------------------------------- hypothesis
event_strategy = st.tuples(
    st.sampled_from(["f", "m", "x", "other", None]),  # raw attribute value
    st.integers(0, 1),  # selected
    st.one_of(st.none(), st.integers(0, 1)),  # label, if it ever arrives
    st.integers(0, 6),  # label delay in events
    st.floats(0.0, 5.0, allow_nan=False),  # time since previous event
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stream=st.lists(event_strategy, min_size=1, max_size=80),
    size=st.one_of(st.none(), st.integers(1, 30)),
    seconds=st.one_of(st.none(), st.floats(1.0, 40.0)),
)
def test_generated_streams_match_fairlearn(
    stream: list[tuple[str | None, int, int | None, int, float]],
    size: int | None,
    seconds: float | None,
) -> None:
    if size is None and seconds is None:
        size = 10
    window = window_for(size=size, seconds=seconds)
    rows: list[Row] = []
    labels: dict[str, int] = {}
    pending: list[tuple[int, str, int]] = []  # (due index, event id, label)
    ts = 0.0
    for i, (group, selected, label, delay, gap) in enumerate(stream):
        ts += gap
        row = Row(f"ev-{i}", ts, group, selected)
        rows.append(row)
        window.add(row.event_id, ts, {} if group is None else {"gender": group}, selected)
        window.evict()
        if label is not None:
            pending.append((i + delay, row.event_id, label))
        for due, event_id, y in [p for p in pending if p[0] <= i]:
            pending.remove((due, event_id, y))
            in_window = any(
                r.event_id == event_id for r in expected_contents(rows, labels, size, seconds)
            )
            assert window.add_label(event_id, y) is in_window
            if in_window:
                labels[event_id] = y
    kept = expected_contents(rows, labels, size, seconds)
    assert len(window) == len(kept)
    assert_matches_fairlearn(tallies_of(window), kept)


# --------------------------------------------------------------------------- Wilson
@pytest.mark.parametrize(
    "hits, total, confidence",
    [(0, 10, 0.95), (10, 10, 0.95), (5, 10, 0.95), (1, 3, 0.9), (37, 120, 0.99), (499, 1000, 0.95)],
)
def test_wilson_interval_matches_scipy(hits: int, total: int, confidence: float) -> None:
    ci = binomtest(hits, total).proportion_ci(confidence_level=confidence, method="wilson")
    lower, upper = fm.wilson_interval(hits, total, fm.z_score(confidence))
    assert lower == pytest.approx(ci.low, abs=1e-9)
    assert upper == pytest.approx(ci.high, abs=1e-9)
    assert lower <= hits / total <= upper


def test_wilson_interval_of_empty_group_is_uninformative() -> None:
    assert fm.wilson_interval(0, 0, 1.96) == (0.0, 1.0)
