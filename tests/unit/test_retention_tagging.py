"""Expiry arithmetic, legal hold, body and header tagging (idempotent), dry run."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from service.retention import (
    EventTimestampError,
    RetentionDecision,
    RetentionPolicy,
    dry_run,
    headers,
    load_policy,
    merge_headers,
    tag,
)
from service.retention.durations import format_instant, parse_timestamp
from tests.strategies_retention import entity_sets, events

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def policy() -> RetentionPolicy:
    return load_policy(ROOT / "config" / "retention.yaml")


def ev(timestamp: str, **metadata: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "event_id": "e-1",
        "timestamp": timestamp,
        "model": {"name": "m", "version": "1"},
        "metadata": metadata,
    }


@pytest.mark.parametrize(
    ("timestamp", "entities", "expected"),
    [
        ("2026-11-30T12:00:00.123Z", set(), "2026-12-30T12:00:00.123Z"),
        ("2026-11-30T12:00:00.123Z", {"EMAIL_ADDRESS"}, "2026-12-07T12:00:00.123Z"),
        ("2026-11-30T12:00:00Z", {"AWS_ACCESS_KEY"}, "2026-12-01T12:00:00.000Z"),
        # offsets are converted to UTC
        ("2026-11-30T23:30:00+02:00", {"AWS_ACCESS_KEY"}, "2026-12-01T21:30:00.000Z"),
        # no offset: UTC
        ("2026-11-30T12:00:00", {"AWS_ACCESS_KEY"}, "2026-12-01T12:00:00.000Z"),
        # microseconds are kept, so expires_at - timestamp is exactly the duration
        ("2026-11-30T12:00:00.123456Z", {"AWS_ACCESS_KEY"}, "2026-12-01T12:00:00.123456Z"),
        # leap year and year end
        ("2028-02-28T00:00:00Z", {"AWS_ACCESS_KEY"}, "2028-02-29T00:00:00.000Z"),
        ("2026-12-31T23:59:59.999Z", {"PHONE_NUMBER"}, "2027-01-07T23:59:59.999Z"),
    ],
)
def test_expires_at_is_timestamp_plus_duration(
    policy: RetentionPolicy, timestamp: str, entities: set[str], expected: str
) -> None:
    decision = policy.classify(ev(timestamp), entities)
    assert decision.expires_at_text == expected
    assert decision.expires_at is not None and decision.expires_at.tzinfo is not None
    duration = policy.classes[decision.class_name].duration
    assert decision.expires_at - parse_timestamp(timestamp) == duration


def test_legal_hold_never_expires(policy: RetentionPolicy) -> None:
    decision = policy.classify(ev("2026-11-30T12:00:00Z", legal_hold=True), {"US_SSN"})
    assert decision.class_name == "legal_hold" and decision.rule == "legal-hold"
    assert decision.expires_at is None and decision.expires_at_text is None
    event = ev("2026-11-30T12:00:00Z", legal_hold=True)
    tag(event, decision)
    assert event["guardian"]["retention"] == {"class": "legal_hold", "expires_at": None}
    assert dict(headers(decision, ["US_SSN"]))["guardian-expires-at"] == b"never"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"model": {"name": "m", "version": "1"}}, "no string timestamp"),
        ({"timestamp": 1764504000}, "no string timestamp"),
        ({"timestamp": "30/11/2026 secret@example.com"}, "not ISO-8601"),
        ({"timestamp": "9999-12-30T00:00:00Z"}, "past year 9999"),
    ],
)
def test_bad_timestamps_raise_without_echoing_the_value(
    policy: RetentionPolicy, event: dict[str, Any], message: str
) -> None:
    with pytest.raises(EventTimestampError, match=message) as info:
        policy.classify(event, ())
    assert "example.com" not in str(info.value)
    assert info.value.dlq_reason == "invalid_timestamp"


def test_format_instant() -> None:
    assert format_instant(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000Z"
    assert (
        format_instant(datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=UTC))
        == "2026-01-02T03:04:05.000007Z"
    )


# ------------------------------------------------------------------ tagging


DECISION = RetentionDecision(
    "short", datetime(2026, 12, 7, 12, 0, 0, 123000, tzinfo=UTC), "pii", "sha256:abc"
)


def test_tag_merges_with_the_redactors_block() -> None:
    redactions = [{"path": "inputs.text", "entity": "EMAIL_ADDRESS", "operator": "replace"}]
    event = {"event_id": "e", "guardian": {"redactions": redactions}}
    tag(event, DECISION)
    assert event == {
        "event_id": "e",
        "guardian": {
            "redactions": redactions,
            "retention": {"class": "short", "expires_at": "2026-12-07T12:00:00.123Z"},
            "policy_version": "sha256:abc",
        },
    }


@pytest.mark.parametrize("forged", ["keep forever", None, ["x"], 3])
def test_tag_replaces_a_guardian_value_that_is_not_an_object(forged: object) -> None:
    event: dict[str, Any] = {"guardian": forged}
    tag(event, DECISION)
    assert event["guardian"]["retention"]["class"] == "short"


def test_tag_overwrites_a_forged_retention() -> None:
    event = {
        "guardian": {
            "retention": {"class": "legal_hold", "expires_at": None},
            "policy_version": "x",
        }
    }
    tag(event, DECISION)
    assert event["guardian"]["retention"]["class"] == "short"
    assert event["guardian"]["policy_version"] == "sha256:abc"


def test_headers() -> None:
    assert headers(DECISION, ["US_SSN", "EMAIL_ADDRESS", "US_SSN"]) == [
        ("guardian-retention-class", b"short"),
        ("guardian-expires-at", b"2026-12-07T12:00:00.123Z"),
        ("guardian-policy-version", b"sha256:abc"),
        ("guardian-pii", b"EMAIL_ADDRESS,US_SSN"),
    ]
    assert dict(headers(DECISION, []))["guardian-pii"] == b""


def test_merge_headers_replaces_earlier_retention_headers() -> None:
    existing = [
        ("traceparent", b"00-abc"),
        ("guardian-retention-class", b"legal_hold"),
        ("guardian-pii", b""),
    ]
    merged = merge_headers(existing, DECISION, {"EMAIL_ADDRESS"})
    assert merged[0] == ("traceparent", b"00-abc")
    assert [k for k, _ in merged].count("guardian-retention-class") == 1
    assert dict(merged)["guardian-retention-class"] == b"short"
    assert dict(merged)["guardian-pii"] == b"EMAIL_ADDRESS"


@settings(max_examples=200, deadline=None)
@given(event=events(), entities=entity_sets())
def test_tagging_is_idempotent_and_consistent(
    policy: RetentionPolicy, event: dict[str, Any], entities: frozenset[str]
) -> None:
    original = copy.deepcopy(event)
    decision = policy.classify(event, entities)
    assert event == original, "classify must not mutate the event"

    once = copy.deepcopy(event)
    tag(once, decision)
    twice = copy.deepcopy(once)
    tag(twice, policy.classify(twice, entities))
    assert twice == once

    # everything else in the event is untouched, the redactor's block is kept
    assert {k: v for k, v in once.items() if k != "guardian"} == {
        k: v for k, v in original.items() if k != "guardian"
    }
    for key, value in (original.get("guardian") or {}).items():
        assert once["guardian"][key] == value

    hdrs = merge_headers([("x", b"1")], decision, entities)
    assert merge_headers(hdrs, decision, entities) == hdrs

    # body and headers agree; expires_at - timestamp is the class duration
    retention = once["guardian"]["retention"]
    header_map = {k: v.decode() for k, v in hdrs}
    assert header_map["guardian-retention-class"] == retention["class"]
    assert header_map["guardian-policy-version"] == once["guardian"]["policy_version"]
    assert header_map["guardian-pii"] == ",".join(sorted(entities))
    duration = policy.classes[retention["class"]].duration
    if duration is None:
        assert retention["expires_at"] is None and header_map["guardian-expires-at"] == "never"
    else:
        assert header_map["guardian-expires-at"] == retention["expires_at"]
        expires = datetime.fromisoformat(retention["expires_at"])
        assert expires - parse_timestamp(event["timestamp"]) == duration
        assert retention["expires_at"].endswith("Z")


# ------------------------------------------------------------------ dry run


def test_dry_run_reports_class_rule_and_stores_nothing(policy: RetentionPolicy) -> None:
    sample = ev("2026-11-30T12:00:00.123Z")
    before = copy.deepcopy(sample)
    result = dry_run(policy, sample, ["EMAIL_ADDRESS"])
    assert result == {
        "class": "short",
        "expires_at": "2026-12-07T12:00:00.123Z",
        "rule": "pii",
        "rule_index": 3,
        "retention_ms": 7 * 86_400_000,
        "topic": "inference.sanitized.short",
        "timestamp": "2026-11-30T12:00:00.123Z",
        "policy_version": policy.version,
    }
    assert sample == before


def test_dry_run_default_class_and_missing_timestamp(policy: RetentionPolicy) -> None:
    sample = {"model": {"name": "m", "version": "1"}}
    now = datetime(2026, 1, 1, tzinfo=UTC)
    result = dry_run(policy, sample, (), prefix="t.", now=now)
    assert (result["class"], result["rule"], result["rule_index"]) == ("standard", None, None)
    assert result["topic"] == "t.standard"
    assert result["timestamp"] == "2026-01-01T00:00:00.000Z"
    assert result["expires_at"] == format_instant(now + timedelta(days=30))
    assert "timestamp" not in sample
