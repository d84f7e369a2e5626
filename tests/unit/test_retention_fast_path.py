"""The retain stage's hot path (RuleCache, Tagger) gives what classify, tag, merge_headers give."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.retention import RetentionPolicy, RuleCache, Tagger, merge_headers, tag
from service.retention.durations import parse_timestamp
from tests.strategies_retention import entity_sets, events, policies

_HOLD_LIKE = st.sampled_from([True, False, 1, 0, 1.0, "true", "TRUE", "yes", None, [1], {"a": 1}])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policy=policies(),
    cases=st.lists(
        st.tuples(events(), entity_sets(), st.one_of(st.none(), _HOLD_LIKE)),
        min_size=1,
        max_size=12,
    ),
)
def test_cached_decisions_and_tags_equal_the_plain_functions(
    policy: dict[str, Any], cases: list[tuple[dict[str, Any], frozenset[str], Any]]
) -> None:
    retention = RetentionPolicy.from_mapping(policy)
    cache, tagger = RuleCache(retention, capacity=5), Tagger()
    existing = [("trace", b"1"), ("guardian-retention-class", b"old")]
    # Each case twice: the second time the cache answers (capacity 5 also forces clears).
    for event, entities, hold in [*cases, *cases]:
        if hold is not None:
            event = {**event, "metadata": {**event["metadata"], "legal_hold": hold}}
        expected = retention.classify(event, entities)
        decision, timestamp = cache.classify(event, entities)
        assert decision == expected
        assert timestamp == parse_timestamp(event["timestamp"])
        plain, fast = copy.deepcopy(event), copy.deepcopy(event)
        tag(plain, expected)
        headers = tagger(fast, decision, existing, entities)
        assert fast == plain
        assert headers == merge_headers(existing, expected, entities)
        assert tagger(copy.deepcopy(event), decision, [], entities) == merge_headers(
            [], expected, entities
        )


def test_true_and_one_are_not_the_same_key() -> None:
    retention = RetentionPolicy.from_mapping(
        {
            "default_class": "standard",
            "classes": {"standard": {"duration": "30d"}, "legal_hold": {"duration": None}},
            "rules": [
                {"name": "hold", "match": {"metadata": {"legal_hold": True}}, "class": "legal_hold"}
            ],
        }
    )
    cache = RuleCache(retention)
    base = {"timestamp": "2026-11-30T12:00:00Z", "model": {"name": "m", "version": "1"}}
    held, _ = cache.classify({**base, "metadata": {"legal_hold": True}}, frozenset())
    one, _ = cache.classify({**base, "metadata": {"legal_hold": 1}}, frozenset())
    assert (held.class_name, one.class_name) == ("legal_hold", "standard")


async def test_retain_stage_counts_each_tagged_event_under_its_class() -> None:
    from prometheus_client import CollectorRegistry

    from service.metrics import GuardianMetrics
    from service.pipeline.context import EventContext
    from service.pipeline.stages import RetainStage
    from service.retention import RetentionSettings

    metrics = GuardianMetrics(CollectorRegistry())
    stage = RetainStage(RetentionSettings().load_policy(), "out.", metrics)
    event = {"timestamp": "2026-11-30T12:00:00Z", "model": {"name": "m", "version": "1"}}
    batch = []
    for i in range(7):
        ctx = EventContext("in", 0, i, b"", event=copy.deepcopy(event))
        ctx.entities = frozenset({"EMAIL_ADDRESS"}) if i % 3 == 0 else frozenset()
        batch.append(ctx)
    batch[1].event["timestamp"] = "not a time"  # type: ignore[index]
    await stage.process(batch)
    assert [c.output_topic for c in batch if c.ok] == [
        "out.short", "out.standard", "out.short", "out.standard", "out.standard", "out.short"
    ]  # fmt: skip
    assert not batch[1].ok  # dead-lettered, not counted
    assert all(c.ts is not None for c in batch if c.ok)

    def counted(name: str) -> float:
        return metrics.retention_assigned.labels(name)._value.get()

    assert (counted("short"), counted("standard")) == (3, 3)
