"""LabelJoin: bounded in size and time, every outcome counted."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from detectors.label_join import LabelJoin
from service.metrics import GuardianMetrics


def make(
    max_size: int = 3, ttl_s: float = 10.0, max_pending: int = 2
) -> tuple[LabelJoin, GuardianMetrics]:
    metrics = GuardianMetrics(CollectorRegistry())
    return LabelJoin(max_size, ttl_s, metrics, max_pending=max_pending), metrics


def counted(metrics: GuardianMetrics, outcome: str) -> float:
    return metrics.registry.get_sample_value("guardian_labels_total", {"outcome": outcome}) or 0.0


def add(join: LabelJoin, event_id: str, ts: float, prediction: object = 1) -> object:
    return join.add_event(event_id, "m", "1", prediction, {"gender": "f"}, ts=ts)


def test_match_and_error() -> None:
    join, metrics = make()
    add(join, "e1", 0.0, prediction=1)
    out = join.add_label("e1", 1.0, now=1.0)
    assert out is not None and out.label == 1.0 and out.error is False
    assert out.protected == {"gender": "f"} and out.event_ts == 0.0 and out.label_ts == 1.0
    assert join.add_label("e1", 0, now=2.0) is None
    assert counted(metrics, "matched") == 1 and counted(metrics, "duplicate") == 1
    assert len(join) == 0


def test_size_bound_evicts_oldest_and_its_label_is_late() -> None:
    join, metrics = make(max_size=3)
    for i in range(5):
        add(join, f"e{i}", float(i))
    assert len(join) == 3 and counted(metrics, "evicted") == 2
    assert join.add_label("e0", 1, now=5.0) is None
    assert counted(metrics, "late") == 1
    assert join.add_label("e4", 1, now=5.0) is not None


def test_ttl_expires_events_and_late_labels_are_counted() -> None:
    join, metrics = make(ttl_s=10.0)
    add(join, "old", 0.0)
    add(join, "new", 9.0)
    assert join.add_label("old", 1, now=10.5) is None
    assert counted(metrics, "expired") == 1 and counted(metrics, "late") == 1
    assert join.add_label("new", 1, now=10.5) is not None


def test_label_before_event_is_kept_briefly() -> None:
    join, metrics = make(ttl_s=10.0, max_pending=2)
    assert join.add_label("early", 0, now=0.0) is None
    assert join.pending == 1
    out = add(join, "early", 1.0, prediction=1)
    assert out is not None and out.error is True  # type: ignore[attr-defined]
    assert counted(metrics, "matched") == 1 and join.pending == 0 and len(join) == 0


def test_pending_labels_are_bounded_and_expire() -> None:
    join, metrics = make(ttl_s=10.0, max_pending=2)
    for i in range(3):
        join.add_label(f"p{i}", 1, now=float(i))
    assert join.pending == 2 and counted(metrics, "unmatched") == 1
    join.expire(now=100.0)
    assert join.pending == 0 and counted(metrics, "unmatched") == 3


def test_remembered_ids_stay_at_max_size_and_the_oldest_is_forgotten() -> None:
    join, metrics = make(max_size=3, max_pending=10)
    for i in range(1000):
        add(join, f"e{i}", ts=float(i))
        join.add_label(f"e{i}", 1, now=float(i))
    assert len(join._joined) == 3  # not the 1000 joined
    assert join._joined.nbytes == make(max_size=3)[0]._joined.nbytes
    join.add_label("e999", 1, now=1000.0)  # still remembered: a duplicate
    assert counted(metrics, "duplicate") == 1
    join.add_label("e0", 1, now=1000.0)  # forgotten: waits for its event as if new
    assert join.pending == 1
