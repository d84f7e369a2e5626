"""The files the settings name (policies, specs, rules), validated in one place.

Any problem becomes one :class:`~service.errors.ConfigError` line naming the
file and the field, never a value: start-up and ``guardian check-config`` print it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from detectors.fairness.config import FairnessConfig
from detectors.performance.config import PerformanceConfig
from detectors.specs import DetectorSpecs
from detectors.text.config import TextConfig
from service.alerting.rules import AlertRules, load_rules
from service.errors import ConfigError
from service.kafka.topics import TopicSpec
from service.overrides import PolicyOverride, UnsafePolicy, UnsafeSetting, check_override
from service.redaction.policy import RedactionPolicy
from service.retention import RetentionPolicy, desired_topic_configs, dlq_retention_ms
from service.settings import GuardianSettings, resolve_config_path
from service.validation import describe_lines

T = TypeVar("T")

log = logging.getLogger(__name__)


def _load(what: str, path: Path, loader: Callable[[Path], T]) -> T:
    """Load one policy or config file; any problem becomes one ConfigError line."""
    resolved = resolve_config_path(path)
    try:
        return loader(resolved)
    except FileNotFoundError:
        raise ConfigError(f"{what}: file not found: {path}") from None
    except ValidationError as exc:
        raise ConfigError(f"{what} {path}: {'; '.join(describe_lines(exc))}") from None
    except ValueError as exc:
        raise ConfigError(f"{what} {path}: {exc}") from None


def _overridden(
    what: str, path: Path, unsafe: list[UnsafeSetting], override: PolicyOverride | None
) -> list[str]:
    """The fields a policy file overrides; one ConfigError line when it has no override."""
    try:
        return check_override(what, unsafe, override)
    except UnsafePolicy as exc:
        raise ConfigError(f"{what} policy {path}: {'; '.join(exc.problems)}") from None


@dataclass(frozen=True, slots=True)
class ConfigFiles:
    """The policies and specs named by the settings, validated."""

    redaction: RedactionPolicy
    retention: RetentionPolicy
    specs: DetectorSpecs
    fairness: FairnessConfig
    performance: PerformanceConfig
    text: TextConfig
    rules: AlertRules
    #: Per policy, the unsafe fields the files override (with a reason).
    overrides: dict[str, list[str]]


def load_files(settings: GuardianSettings) -> ConfigFiles:
    """Read and validate every file the settings name; raises one-line ConfigErrors."""
    redaction_file = settings.redaction.policy_file
    retention_file = settings.retention.policy_file
    redaction = _load("redaction policy", redaction_file, RedactionPolicy.from_yaml)
    retention = _load(
        "retention policy",
        retention_file,
        lambda p: RetentionPolicy.from_file(
            p, strict_unreachable=settings.retention.strict_unreachable
        ),
    )
    # Unsafe settings in the files need an override, as on the control plane.
    overrides = {
        "redaction": _overridden(
            "redaction", redaction_file, redaction.unsafe_settings(), redaction.override
        ),
        "retention": _overridden(
            "retention",
            retention_file,
            retention.unsafe_settings(settings.retention.max_duration),
            retention.override,
        ),
    }
    for rule in retention.unreachable_rules():
        log.warning("retention policy: %s", rule)
    return ConfigFiles(
        redaction=redaction,
        retention=retention,
        specs=_load("detector specs", settings.detectors.specs_file, DetectorSpecs.load),
        fairness=_load("fairness config", settings.fairness.config_file, FairnessConfig.load),
        performance=_load(
            "performance config", settings.performance.config_file, PerformanceConfig.load
        ),
        text=_load("text statistics config", settings.text.config_file, TextConfig.load),
        rules=_load("alert rules", settings.alerting.rules_file, load_rules),
        overrides=overrides,
    )


def owned_topics(settings: GuardianSettings, retention: RetentionPolicy) -> list[TopicSpec]:
    """Every topic Guardian creates and keeps configured, besides its inputs."""
    t = settings.kafka.topics
    p, rf = t.partitions, t.replication_factor
    compact = {"cleanup.policy": "compact"}
    sanitized = [
        TopicSpec(name, p, rf, configs)
        for name, configs in desired_topic_configs(retention, t.sanitized_prefix).items()
    ]
    dlq_ms = str(dlq_retention_ms(retention))
    return [
        *sanitized,
        TopicSpec(t.dlq, p, rf, {"retention.ms": dlq_ms, "cleanup.policy": "delete"}),
        TopicSpec(t.alerts, 1, rf),
        TopicSpec(t.audit, 1, rf, {"retention.ms": "-1", "cleanup.policy": "delete"}),
        TopicSpec(t.config, 1, rf, compact),
        TopicSpec(t.state, p, rf, compact),
        TopicSpec(t.membership, 1, rf, compact),
        *_repartition(settings),
    ]


def _repartition(settings: GuardianSettings) -> list[TopicSpec]:
    """The internal repartition topic (``kafka.repartition``), as many partitions as the inputs."""
    kafka = settings.kafka
    if kafka.repartition == "off":
        return []
    t = kafka.topics
    configs = {"retention.ms": str(kafka.repartition_retention_ms), "cleanup.policy": "delete"}
    return [TopicSpec(t.repartition, t.partitions, t.replication_factor, configs)]
