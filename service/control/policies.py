"""The policies in force in this process, and how a new one is validated here.

The redaction policy lives in the :class:`~service.redaction.redactor.Redactor`
(it ships it to its worker processes); the retention policy lives here. Parts
that act on a retention change (the retain stage, the owned topics) subscribe
with :meth:`LivePolicies.on_retention`, so nothing reaches into another part to
swap its policy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from service.overrides import UnsafePolicy, UnsafeSetting, check_override
from service.redaction.policy import NER_ENTITIES, RedactionPolicy, RedactionPolicyError
from service.retention import RetentionPolicy, RetentionPolicyError

if TYPE_CHECKING:
    from service.redaction.redactor import Redactor
    from service.redaction.settings import RedactionSettings
    from service.retention.settings import RetentionSettings


class ConfigInvalid(ValueError):
    """A section of a config change does not validate; ``problems`` name each field or rule."""

    def __init__(self, section: str, problems: list[str]) -> None:
        super().__init__(f"{section}: " + "; ".join(problems))
        self.section = section
        self.problems = problems


RetentionListener = Callable[[RetentionPolicy], Awaitable[None]]


class LivePolicies:
    """Redaction and retention policies in force; implements ``service.api.ports.PolicyHolder``."""

    def __init__(
        self,
        redactor: Redactor,
        retention: RetentionPolicy,
        redaction_settings: RedactionSettings,
        retention_settings: RetentionSettings,
        sanitized_prefix: str,
    ) -> None:
        self._redactor = redactor
        self._retention = retention
        self._redaction_settings = redaction_settings
        self._retention_settings = retention_settings
        self._sanitized_prefix = sanitized_prefix
        self._retention_listeners: list[RetentionListener] = []

    @property
    def redaction(self) -> RedactionPolicy:
        return self._redactor.policy

    @property
    def retention(self) -> RetentionPolicy:
        return self._retention

    @property
    def sanitized_prefix(self) -> str:
        return self._sanitized_prefix

    def versions(self) -> str:
        """``redaction=<v>;retention=<v>``: part of what alerts are raised under."""
        return f"redaction={self.redaction.version};retention={self.retention.version}"

    def on_retention(self, listener: RetentionListener) -> None:
        """Call ``listener`` with every new retention policy, in subscription order."""
        self._retention_listeners.append(listener)

    def replace_redaction(self, policy: RedactionPolicy) -> None:
        self._redactor.replace_policy(policy)

    async def replace_retention(self, policy: RetentionPolicy) -> None:
        self._retention = policy
        for listener in self._retention_listeners:
            await listener(policy)

    def parse_redaction(self, data: Mapping[str, Any]) -> RedactionPolicy:
        """Validate a redaction policy, including what this process can run (HMAC key, NER)."""
        try:
            policy = RedactionPolicy.from_mapping(data)
        except RedactionPolicyError as exc:
            raise ConfigInvalid("redaction", [ln for ln in str(exc).split("\n") if ln]) from None
        problems = []
        if policy.uses_hmac and self._redaction_settings.active_hmac_key is None:
            problems.append(
                "the hmac operator needs an HMAC key (redaction.hmac_keys / active_hmac_key)"
            )
        ner = sorted(policy.all_entities & set(NER_ENTITIES))
        if ner and self._redactor.ner_model is None:
            problems.append(
                f"NER entities {ner} need redaction.spacy_model (an installed pipeline)"
            )
        if problems:
            raise ConfigInvalid("redaction", problems)
        try:
            check_override("redaction", policy.unsafe_settings(), policy.override)
        except UnsafePolicy as exc:
            raise ConfigInvalid("redaction", exc.problems) from None
        return policy

    def parse_retention(self, data: Mapping[str, Any]) -> RetentionPolicy:
        """Validate a retention policy, including the unsafe settings it may only override."""
        try:
            policy = RetentionPolicy.from_mapping(
                dict(data), strict_unreachable=self._retention_settings.strict_unreachable
            )
        except RetentionPolicyError as exc:
            raise ConfigInvalid("retention", list(exc.problems)) from None
        try:
            check_override("retention", self.retention_unsafe(policy), policy.override)
        except UnsafePolicy as exc:
            raise ConfigInvalid("retention", exc.problems) from None
        return policy

    def retention_unsafe(self, policy: RetentionPolicy) -> list[UnsafeSetting]:
        return policy.unsafe_settings(self._retention_settings.max_duration)
