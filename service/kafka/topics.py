"""Create missing topics and correct the configs of the ones Guardian owns.

Guardian owns its sanitized, DLQ, alert, config, audit and state topics: at
start (and when the retention policy changes) it creates those that are missing
and sets ``retention.ms`` / ``cleanup.policy`` on those that drifted. What it
cannot fix is returned as a mismatch for a metric and a log line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int = 1
    configs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConfigMismatch:
    topic: str
    key: str
    wanted: str
    actual: str | None


_DYNAMIC_TOPIC_CONFIG = 1


async def describe_topic_configs(
    admin: AIOKafkaAdminClient, topics: list[str]
) -> dict[str, dict[str, str]]:
    """Current configs of ``topics`` as plain dicts."""
    return {
        name: {key: value for key, (value, _dynamic) in entries.items()}
        for name, entries in (await _describe(admin, topics)).items()
    }


async def _describe(
    admin: AIOKafkaAdminClient, topics: list[str]
) -> dict[str, dict[str, tuple[str, bool]]]:
    if not topics:
        return {}
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in topics]
    )
    found: dict[str, dict[str, tuple[str, bool]]] = {}
    for response in responses:
        for resource in response.resources:
            error_code, _message, _type, name, entries = resource[:5]
            if error_code:
                continue
            found[name] = {e[0]: (e[1], e[3] == _DYNAMIC_TOPIC_CONFIG) for e in entries}
    return found


async def ensure_topics(admin: AIOKafkaAdminClient, specs: list[TopicSpec]) -> list[ConfigMismatch]:
    """Create missing topics, correct owned configs; return what still differs."""
    existing = set(await admin.list_topics())
    missing = [s for s in specs if s.name not in existing]
    if missing:
        try:
            await admin.create_topics(
                [
                    NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=s.configs)
                    for s in missing
                ]
            )
            log.info("created topics %s", ", ".join(s.name for s in missing))
        except TopicAlreadyExistsError:
            log.info("topics were created concurrently by another replica")
    wanted = {s.name: s.configs for s in specs if s.configs}
    current = await _describe(admin, list(wanted))
    to_fix = {
        name: configs
        for name, configs in wanted.items()
        if any(current.get(name, {}).get(k, (None,))[0] != v for k, v in configs.items())
    }
    if to_fix:
        # AlterConfigs replaces a topic's dynamic configs: keep the ones set by others.
        await admin.alter_configs(
            [
                ConfigResource(
                    ConfigResourceType.TOPIC,
                    name,
                    configs={
                        **{k: v for k, (v, dyn) in current.get(name, {}).items() if dyn},
                        **configs,
                    },
                )
                for name, configs in to_fix.items()
            ]
        )
    actual = await describe_topic_configs(admin, list(wanted))
    mismatches = [
        ConfigMismatch(name, key, value, actual.get(name, {}).get(key))
        for name, configs in wanted.items()
        for key, value in configs.items()
        if actual.get(name, {}).get(key) != value
    ]
    for m in mismatches:
        log.warning(
            "topic %s: %s is %s, policy wants %s and it could not be corrected",
            m.topic,
            m.key,
            m.actual,
            m.wanted,
        )
    return mismatches
