"""What redacting one event produced: the sanitized event and what was done, value-free."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from service.redaction.scrub import scrub_payload


@dataclass(frozen=True, slots=True)
class Redaction:
    """One kind of change made to one field; never carries the value."""

    path: str
    entity: str
    operator: str
    count: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "entity": self.entity,
            "operator": self.operator,
            "count": self.count,
        }


@dataclass(frozen=True, slots=True)
class RedactionOutcome:
    """The sanitized event and what was done, or ``failed`` with a value-free reason.

    A failed outcome keeps the event it refused (``source``, never shown in its
    repr) instead of a scrubbed copy: the pipeline dead-letters the original
    through the one DLQ scrubber (:mod:`service.redaction.scrub`) itself, so the
    copy is built only where it is read (:attr:`event`, e.g. by the dry run).
    """

    #: The sanitized event; ``None`` when ``failed``.
    sanitized: dict[str, Any] | None
    redactions: list[Redaction]
    entities: frozenset[str]
    failed: bool = False
    reason: str | None = None
    policy_version: str = ""
    #: Reason code of the DLQ record when ``failed``.
    dlq_reason: str = "redaction_failed"
    #: The refused event, as received (only when ``failed``; it may hold PII).
    source: Any = field(default=None, repr=False)

    @property
    def event(self) -> dict[str, Any]:
        """The sanitized event, or for a failure the event as the DLQ keeps it."""
        if self.sanitized is not None:
            return self.sanitized
        scrubbed = scrub_payload(self.source) if self.source is not None else {}
        return scrubbed if isinstance(scrubbed, dict) else {"raw": scrubbed}

    @property
    def pii_header(self) -> str:
        """Value of the ``guardian-pii`` header: entity types found, comma-separated."""
        return ",".join(sorted(self.entities))


@dataclass(frozen=True, slots=True)
class Refused:
    """An event that fails closed before analysis: DLQ reason code and value-free reason."""

    dlq_reason: str
    reason: str


def unchanged(event: dict[str, Any], version: str) -> RedactionOutcome:
    """The outcome of an event in which nothing was found and no field rule applies.

    Equal to what the walk builds (the event without an input ``guardian`` key,
    then Guardian's block with no redactions), sharing the nested values the
    walk would only have copied.
    """
    sanitized = dict(event)
    given = sanitized.pop("guardian", None)
    guardian = dict(given or {}) if isinstance(given, dict) else {}
    guardian["redactions"] = []
    sanitized["guardian"] = guardian
    return RedactionOutcome(sanitized, [], frozenset(), policy_version=version)
