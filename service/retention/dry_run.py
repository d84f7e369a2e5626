"""Dry run: which class and rule a sample event would get, storing nothing.

The control plane exposes this (``POST /v1/policies/retention/dry-run``). The
sample is only read: it is not copied, kept, logged or tagged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from service.retention.durations import format_instant, parse_timestamp
from service.retention.policy import RetentionPolicy
from service.retention.topics import DEFAULT_PREFIX, topic_for


def dry_run(
    policy: RetentionPolicy,
    sample_event: Mapping[str, Any],
    entities: Iterable[str],
    *,
    prefix: str = DEFAULT_PREFIX,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Classify ``sample_event`` as the pipeline would and describe the outcome.

    A sample without ``timestamp`` is classified as of ``now`` (default: the
    current time), which the result reports as ``timestamp``.

    Returns
    -------
    dict
        ``class``, ``expires_at`` (ISO-8601 ``Z`` or ``None``), ``rule`` (name or
        ``None`` for the default class), ``rule_index``, ``retention_ms``,
        ``topic``, ``timestamp`` and ``policy_version``.

    Raises
    ------
    EventTimestampError
        The sample's timestamp is not ISO-8601.
    """
    event: Mapping[str, Any] = sample_event
    if "timestamp" not in sample_event:
        instant = now if now is not None else datetime.now(UTC)
        event = {**sample_event, "timestamp": format_instant(instant)}
    found = frozenset(entities)
    decision = policy.classify(event, found)
    rule_index = next(
        (i for i, rule in enumerate(policy.rules) if rule.name == decision.rule), None
    )
    return {
        "class": decision.class_name,
        "expires_at": decision.expires_at_text,
        "rule": decision.rule,
        "rule_index": rule_index,
        "retention_ms": policy.classes[decision.class_name].retention_ms,
        "topic": topic_for(decision.class_name, prefix),
        "timestamp": format_instant(parse_timestamp(event.get("timestamp"))),
        "policy_version": decision.policy_version,
    }
