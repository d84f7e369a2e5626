"""Kafka topic configuration derived from the retention policy.

Retention is enforced by Kafka itself: each class writes to its own topic whose
``retention.ms`` equals the class duration. This module only computes what the
topics should look like and how they differ from what the broker reports; the
topic admin (``service/kafka/topics.py``) creates and corrects them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from service.retention.policy import RetentionPolicy

DEFAULT_PREFIX = "inference.sanitized."
_MAX_TOPIC_LENGTH = 249
_DAY_MS = 86_400_000
_MIN_SEGMENT_MS = 60_000


def topic_for(class_name: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Topic of a retention class, e.g. ``inference.sanitized.short``.

    Examples
    --------
    >>> topic_for("short")
    'inference.sanitized.short'
    """
    topic = prefix + class_name
    if len(topic) > _MAX_TOPIC_LENGTH:
        raise ValueError(f"topic name for class {class_name!r} is longer than 249 characters")
    return topic


def desired_topic_configs(
    policy: RetentionPolicy, prefix: str = DEFAULT_PREFIX, *, bound_segments: bool = False
) -> dict[str, dict[str, str]]:
    """Per class topic, the configs that enforce the class.

    ``retention.ms`` is the class duration in milliseconds (``-1`` for no
    expiry) and ``cleanup.policy`` is ``delete``: a compacted topic would keep
    the latest event per key forever, whatever ``retention.ms`` says.

    Kafka deletes whole closed segments, and by default a segment rolls only
    after 7 days, so a 1-day class would keep records up to 8 days. With
    ``bound_segments`` finite classes also get ``segment.ms`` of a tenth of
    the duration (at most a day, at least a minute), bounding the overshoot
    to about 10%. Off by default: only set it on brokers known to honour it.
    """
    configs: dict[str, dict[str, str]] = {}
    for name, retention_class in policy.classes.items():
        topic_configs = {
            "retention.ms": str(retention_class.retention_ms),
            "cleanup.policy": "delete",
        }
        if bound_segments and retention_class.duration is not None:
            segment_ms = max(_MIN_SEGMENT_MS, min(retention_class.retention_ms // 10, _DAY_MS))
            topic_configs["segment.ms"] = str(segment_ms)
        configs[topic_for(name, prefix)] = topic_configs
    return configs


def dlq_retention_ms(policy: RetentionPolicy) -> int:
    """Default ``retention.ms`` of ``guardian.dlq``: the shortest finite class duration.

    Dead-lettered events have not been classified, so they get the strictest
    treatment the policy knows. ``-1`` only when no class expires at all.
    """
    finite = [c.retention_ms for c in policy.classes.values() if c.duration is not None]
    return min(finite) if finite else -1


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One difference between a desired topic config and the broker's.

    ``reason`` is ``missing_topic`` (``actual`` is ``None``), ``missing_key``
    (the broker did not report the key) or ``wrong_value``.
    """

    topic: str
    key: str
    expected: str
    actual: str | None
    reason: Literal["missing_topic", "missing_key", "wrong_value"]

    def __str__(self) -> str:
        if self.reason == "missing_topic":
            return f"topic {self.topic} does not exist (wants {self.key}={self.expected})"
        return f"topic {self.topic}: {self.key} is {self.actual!r}, policy wants {self.expected!r}"


def _same(key: str, expected: str, actual: str) -> bool:
    if key == "cleanup.policy":
        return {p.strip() for p in expected.split(",")} == {p.strip() for p in actual.split(",")}
    return expected.strip() == actual.strip()


def diff_topic_configs(
    desired: Mapping[str, Mapping[str, str]],
    actual: Mapping[str, Mapping[str, str | None]],
) -> list[Mismatch]:
    """Every desired key whose value the broker does not have, sorted by topic and key.

    ``actual`` maps existing topics to their configs as read back through the
    admin API (extra keys and extra topics are ignored).
    """
    mismatches: list[Mismatch] = []
    for topic in sorted(desired):
        configs = actual.get(topic)
        for key in sorted(desired[topic]):
            expected = desired[topic][key]
            if configs is None:
                mismatches.append(Mismatch(topic, key, expected, None, "missing_topic"))
                continue
            value = configs.get(key)
            if value is None:
                mismatches.append(Mismatch(topic, key, expected, None, "missing_key"))
            elif not _same(key, expected, value):
                mismatches.append(Mismatch(topic, key, expected, value, "wrong_value"))
    return mismatches
