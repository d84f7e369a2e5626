"""The alert engine's side of a model's hand-over between replicas (see bench_rolling)."""

from __future__ import annotations

import orjson
import pytest

from detectors.results import DriftResult
from service.alerting.engine import AlertEngine
from service.alerting.rules import AlertRules

MODEL = "credit-risk"


def _drift(at: float) -> DriftResult:
    return DriftResult(MODEL, "1", "x", "adwin", f"{MODEL}/1/x/adwin", 0.3, at=at, n_seen=500)


def test_alerts_of_a_model_that_moved_away_are_dropped_without_resolving() -> None:
    holder, next_holder = AlertEngine(AlertRules()), AlertEngine(AlertRules())
    holder.ingest(_drift(100.0), now=100.0)
    assert [c.event for c in holder.tick(now=100.0)] == ["firing"]
    states = orjson.loads(orjson.dumps(holder.export_model(MODEL)))  # as checkpointed
    assert holder.export_model("other-model") == []
    holder.drop_model(MODEL)
    assert holder.list_alerts() == [] and holder.tick(now=5000.0) == []
    assert next_holder.import_model(states) == 1
    assert next_holder.tick(now=101.0) == []  # firing already: no second notification
    next_holder.ingest(_drift(160.0), now=160.0)
    assert next_holder.tick(now=160.0) == []
    # It resolves on its own schedule (30 min quiet), once, on the replica holding it.
    assert [c.event for c in next_holder.tick(now=160.0 + 1800)] == ["resolved"]


def test_a_malformed_alert_state_is_refused() -> None:
    engine = AlertEngine(AlertRules())
    engine.ingest(_drift(100.0), now=100.0)
    engine.tick(now=100.0)
    (state,) = engine.export_model(MODEL)
    with pytest.raises(ValueError):
        AlertEngine(AlertRules()).import_model([{**state, "state": "exploded"}])
    with pytest.raises(KeyError):
        AlertEngine(AlertRules()).import_model([{k: v for k, v in state.items() if k != "name"}])
