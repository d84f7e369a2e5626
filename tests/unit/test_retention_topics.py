"""Topic configs derived from the retention policy, and their diff against the broker."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from service.retention import (
    Mismatch,
    RetentionPolicy,
    desired_topic_configs,
    diff_topic_configs,
    dlq_retention_ms,
    load_policy,
    topic_for,
)
from service.retention.durations import parse_timestamp

ROOT = Path(__file__).resolve().parents[2]
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def policy() -> RetentionPolicy:
    return load_policy(ROOT / "config" / "retention.yaml")


def test_topic_for() -> None:
    assert topic_for("short") == "inference.sanitized.short"
    assert topic_for("short", prefix="acme.out.") == "acme.out.short"
    with pytest.raises(ValueError, match="249"):
        topic_for("x" * 250)


def test_desired_configs_of_the_default_policy(policy: RetentionPolicy) -> None:
    assert desired_topic_configs(policy) == {
        "inference.sanitized.ephemeral": {"retention.ms": str(DAY_MS), "cleanup.policy": "delete"},
        "inference.sanitized.short": {"retention.ms": str(7 * DAY_MS), "cleanup.policy": "delete"},
        "inference.sanitized.standard": {
            "retention.ms": str(30 * DAY_MS),
            "cleanup.policy": "delete",
        },
        "inference.sanitized.extended": {
            "retention.ms": str(365 * DAY_MS),
            "cleanup.policy": "delete",
        },
        "inference.sanitized.legal_hold": {"retention.ms": "-1", "cleanup.policy": "delete"},
    }


def test_bounded_segments(policy: RetentionPolicy) -> None:
    configs = desired_topic_configs(policy, bound_segments=True)
    assert configs["inference.sanitized.ephemeral"]["segment.ms"] == str(DAY_MS // 10)
    assert configs["inference.sanitized.extended"]["segment.ms"] == str(DAY_MS)
    assert "segment.ms" not in configs["inference.sanitized.legal_hold"]
    assert "segment.ms" not in desired_topic_configs(policy)["inference.sanitized.ephemeral"]
    tiny = RetentionPolicy.from_mapping(
        {"default_class": "a", "classes": {"a": {"duration": "2m"}}}
    )
    assert (
        desired_topic_configs(tiny, bound_segments=True)["inference.sanitized.a"]["segment.ms"]
        == "60000"
    )


def test_retention_ms_equals_expiry_minus_timestamp(policy: RetentionPolicy) -> None:
    """What the issue asks to show: the topic's retention.ms matches expires_at - timestamp."""
    event = {"timestamp": "2026-11-30T12:00:00.123Z", "model": {"name": "m", "version": "1"}}
    for entities in (set(), {"EMAIL_ADDRESS"}, {"AWS_ACCESS_KEY"}):
        decision = policy.classify(event, entities)
        assert decision.expires_at is not None
        configs = desired_topic_configs(policy, "p.")[topic_for(decision.class_name, "p.")]
        elapsed = decision.expires_at - parse_timestamp(event["timestamp"])
        assert int(configs["retention.ms"]) == elapsed // timedelta(milliseconds=1)


@pytest.mark.parametrize(
    ("durations", "expected"),
    [
        ({"a": "7d", "b": "1d", "c": None}, DAY_MS),
        ({"a": "12h", "b": "1d"}, 12 * 3_600_000),
        ({"a": None}, -1),
    ],
)
def test_dlq_retention_is_the_shortest_finite_class(
    durations: dict[str, str | None], expected: int
) -> None:
    policy = RetentionPolicy.from_mapping(
        {"default_class": "a", "classes": {k: {"duration": v} for k, v in durations.items()}}
    )
    assert dlq_retention_ms(policy) == expected


def test_dlq_retention_of_the_default_policy(policy: RetentionPolicy) -> None:
    assert dlq_retention_ms(policy) == DAY_MS


def test_diff_topic_configs() -> None:
    desired = {
        "t.ok": {"retention.ms": "1000", "cleanup.policy": "delete"},
        "t.wrong": {"retention.ms": "1000", "cleanup.policy": "delete"},
        "t.missing": {"retention.ms": "-1", "cleanup.policy": "delete"},
        "t.nokey": {"retention.ms": "5", "cleanup.policy": "delete"},
    }
    actual = {
        "t.ok": {"retention.ms": "1000", "cleanup.policy": "delete", "segment.ms": "1"},
        "t.wrong": {"retention.ms": "604800000", "cleanup.policy": "compact,delete"},
        "t.nokey": {"cleanup.policy": "delete"},
        "t.unrelated": {"retention.ms": "1"},
    }
    assert diff_topic_configs(desired, actual) == [
        Mismatch("t.missing", "cleanup.policy", "delete", None, "missing_topic"),
        Mismatch("t.missing", "retention.ms", "-1", None, "missing_topic"),
        Mismatch("t.nokey", "retention.ms", "5", None, "missing_key"),
        Mismatch("t.wrong", "cleanup.policy", "delete", "compact,delete", "wrong_value"),
        Mismatch("t.wrong", "retention.ms", "1000", "604800000", "wrong_value"),
    ]
    assert "policy wants '1000'" in str(diff_topic_configs(desired, actual)[-1])
    assert (
        diff_topic_configs(
            desired,
            {
                **actual,
                "t.wrong": {"retention.ms": "1000", "cleanup.policy": " delete"},
                "t.missing": desired["t.missing"],
                "t.nokey": desired["t.nokey"],
            },
        )
        == []
    )


def test_policy_change_shows_up_as_a_diff(policy: RetentionPolicy) -> None:
    """Correcting topics after a policy change: the old state differs exactly where it changed."""
    data = policy.to_mapping()
    data["classes"]["short"]["duration"] = "3d"
    changed = RetentionPolicy.from_mapping(data)
    assert changed.version != policy.version
    mismatches = diff_topic_configs(desired_topic_configs(changed), desired_topic_configs(policy))
    assert mismatches == [
        Mismatch(
            "inference.sanitized.short",
            "retention.ms",
            str(3 * DAY_MS),
            str(7 * DAY_MS),
            "wrong_value",
        )
    ]
