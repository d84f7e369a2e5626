"""What redacting one event produced: the sanitized event and what was done, value-free."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
    """The sanitized event and what was done, or ``failed`` with a value-free reason."""

    event: dict[str, Any]
    redactions: list[Redaction]
    entities: frozenset[str]
    failed: bool = False
    reason: str | None = None
    policy_version: str = ""
    #: Reason code of the DLQ record when ``failed``.
    dlq_reason: str = "redaction_failed"

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
