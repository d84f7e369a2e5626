"""Retention: a validated policy picks each event's class; tags and topic configs follow.

Wiring (retain stage)::

    decision = policy.classify(event, entities)     # after redaction
    tag(event, decision)                            # guardian.retention, policy_version
    topic = topic_for(decision.class_name, settings.kafka.topics.sanitized_prefix)
    kafka_headers = merge_headers(existing, decision, entities)
"""

from service.retention.dry_run import dry_run
from service.retention.errors import EventTimestampError, RetentionError, RetentionPolicyError
from service.retention.policy import (
    EntityCondition,
    RetentionClass,
    RetentionDecision,
    RetentionPolicy,
    RetentionRule,
    RuleCache,
    RuleMatch,
    UnreachableRule,
    load_policy,
)
from service.retention.settings import RetentionSettings
from service.retention.tagging import Tagger, headers, merge_headers, tag
from service.retention.topics import (
    Mismatch,
    desired_topic_configs,
    diff_topic_configs,
    dlq_retention_ms,
    topic_for,
)

__all__ = [
    "EntityCondition",
    "EventTimestampError",
    "Mismatch",
    "RetentionClass",
    "RetentionDecision",
    "RetentionError",
    "RetentionPolicy",
    "RetentionPolicyError",
    "RetentionRule",
    "RetentionSettings",
    "RuleCache",
    "RuleMatch",
    "Tagger",
    "UnreachableRule",
    "desired_topic_configs",
    "diff_topic_configs",
    "dlq_retention_ms",
    "dry_run",
    "headers",
    "load_policy",
    "merge_headers",
    "tag",
    "topic_for",
]
