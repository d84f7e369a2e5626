"""Unsafe policy settings and the explicit override that accepts them.

Some policies are valid but switch protection off: no scan paths, no
entities, an operator that keeps personal data, data kept forever or longer
than ``retention.max_duration``. Such a policy is refused (422 on the control
plane, one line at start-up and in ``guardian check-config``) unless it carries
``override: {reason: "..."}``; an accepted override is audited, counted in
``guardian_policy_overrides_total`` and raises the ``GuardianPolicyOverride``
warning alert. The policies list their own unsafe settings
(``RedactionPolicy.unsafe_settings``, ``RetentionPolicy.unsafe_settings``);
this module holds what both share.

Examples
--------
>>> unsafe = [UnsafeSetting("scan", "no scan paths: nothing is redacted")]
>>> check_override("redaction", unsafe, None)
Traceback (most recent call last):
...
service.overrides.UnsafePolicy: redaction: scan: no scan paths: nothing is redacted \
(an explicit override: {reason: ...} is required)
>>> check_override("redaction", unsafe, PolicyOverride(reason="migration window"))
['scan']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

OVERRIDE_HINT = "an explicit override: {reason: ...} is required"


class PolicyOverride(BaseModel):
    """Why an unsafe policy is accepted anyway; the reason goes to the audit log."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reason: str = Field(min_length=3, max_length=500)


@dataclass(frozen=True, slots=True)
class UnsafeSetting:
    """One setting that needs an override: where it is and why it is unsafe (no values)."""

    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


class UnsafePolicy(ValueError):
    """A policy has unsafe settings and no override; ``problems`` name each field."""

    def __init__(self, section: str, unsafe: Sequence[UnsafeSetting]) -> None:
        self.section = section
        self.unsafe = list(unsafe)
        self.problems = [f"{u} ({OVERRIDE_HINT})" for u in self.unsafe]
        super().__init__(f"{section}: " + "; ".join(self.problems))


def check_override(
    section: str, unsafe: Sequence[UnsafeSetting], override: PolicyOverride | None
) -> list[str]:
    """The overridden fields (empty when nothing is unsafe); raises :class:`UnsafePolicy`."""
    if unsafe and override is None:
        raise UnsafePolicy(section, unsafe)
    return [u.field for u in unsafe]
