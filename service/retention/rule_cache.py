"""The retain stage's hot path: the policy's first matching rule, memoised per event shape."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from service.retention.durations import parse_timestamp
from service.retention.matching import MISSING, metadata_value
from service.retention.policy import RetentionDecision, RetentionPolicy, RetentionRule

_CACHEABLE = frozenset({str, int, float, bool, type(None)})


class RuleCache:
    """:meth:`RetentionPolicy.classify` with the matched rule memoised; for the hot path.

    The first matching rule depends only on the model name and version, the
    tenant, the entity types and the metadata values the rules name; events
    repeat those constantly, so the rule is looked up by them and only the
    expiry is computed per event. A metadata value that is not a scalar makes
    the event take :meth:`RetentionPolicy.match` directly. The cache belongs to
    one policy: a new policy needs a new cache.

    Examples
    --------
    >>> policy = RetentionPolicy.from_mapping({
    ...     "default_class": "standard",
    ...     "classes": {"short": {"duration": "7d"}, "standard": {"duration": "30d"}},
    ...     "rules": [{"name": "eu", "match": {"metadata": {"region": "eu-*"}},
    ...                "class": "short"}],
    ... })
    >>> event = {"timestamp": "2026-11-30T12:00:00Z", "model": {"name": "m", "version": "1"},
    ...          "metadata": {"region": "eu-west"}}
    >>> decision, _ts = RuleCache(policy).classify(event, frozenset())
    >>> decision == policy.classify(event, ())
    True
    """

    def __init__(self, policy: RetentionPolicy, capacity: int = 10_000) -> None:
        self.policy = policy
        self.capacity = capacity
        self._paths = tuple(
            sorted({path for rule in policy.rules for path in (rule.match.metadata or {})})
        )
        self._rules: dict[tuple[Any, ...], RetentionRule | None] = {}

    def classify(
        self, event: Mapping[str, Any], entities: frozenset[str]
    ) -> tuple[RetentionDecision, datetime]:
        """The decision :meth:`RetentionPolicy.classify` gives, and the parsed timestamp.

        Raises
        ------
        EventTimestampError
            As :meth:`RetentionPolicy.classify`.
        """
        policy = self.policy
        timestamp = parse_timestamp(event.get("timestamp"))
        key = self._key(event, entities)
        if key is None:
            return policy.decide(policy.match(event, entities), timestamp), timestamp
        try:
            rule = self._rules[key]
        except KeyError:
            rule = policy.match(event, entities)
            if len(self._rules) >= self.capacity:
                self._rules.clear()
            self._rules[key] = rule
        return policy.decide(rule, timestamp), timestamp

    def _key(self, event: Mapping[str, Any], entities: frozenset[str]) -> tuple[Any, ...] | None:
        """What the rules look at, normalised as :class:`EventView` does; ``None``: uncacheable."""
        model = event.get("model")
        name = version = None
        if isinstance(model, Mapping):
            name = model.get("name")
            version = model.get("version")
            if not isinstance(name, str):
                name = None
            if not isinstance(version, str):
                version = None
        tenant = event.get("tenant")
        if not isinstance(tenant, str):
            tenant = None
        values: tuple[Any, ...] = ()
        if self._paths:
            metadata = event.get("metadata")
            if not isinstance(metadata, Mapping):
                metadata = {}
            parts: list[Any] = []
            for path in self._paths:
                value = metadata_value(metadata, path)
                if value is MISSING:
                    parts.append(MISSING)
                elif type(value) in _CACHEABLE:
                    # The type too: True == 1 == 1.0, and the rules tell them apart.
                    parts.append((type(value), value))
                else:
                    return None
            values = tuple(parts)
        return (name, version, tenant, entities, values)
