"""Retention policy: named classes with durations and ordered rules that pick one.

The policy is data (``config/retention.yaml``) validated once into frozen
objects. Every event gets exactly one class: the class of the first rule whose
conditions all hold, or the policy's default class. The class decides the
event's expiry (``timestamp + duration``) and the Kafka topic it is written to,
whose ``retention.ms`` enforces that duration (see :mod:`service.retention.topics`).

What a rule matches on is :mod:`service.retention.matching`; durations and
timestamps are :mod:`service.retention.durations`; the hot path's memoised
lookup is :class:`service.retention.rule_cache.RuleCache`. In the pipeline the
retain stage runs after redaction, so metadata conditions should name fields the
redaction policy leaves readable (classification labels, regions, flags), not
free text.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    field_serializer,
    model_validator,
)

from service.overrides import PolicyOverride, UnsafeSetting
from service.retention.durations import (
    duration_ms,
    format_duration,
    format_instant,
    parse_duration,
    parse_timestamp,
)
from service.retention.errors import EventTimestampError, RetentionPolicyError
from service.retention.matching import EventView, RuleMatch
from service.validation import describe_errors, yaml_problem

ClassName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=128)
]
RuleName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.:/-]*$", max_length=128)
]
_RULE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.:/-]{0,127}")
_FROZEN = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class RetentionClass(BaseModel):
    """A named retention class: how long its events may be kept (``None``: no expiry).

    ``legal_hold`` marks a class for data under legal hold: it may keep data
    forever (or longer than ``retention.max_duration``) without an override.
    """

    model_config = _FROZEN

    duration: Annotated[timedelta | None, BeforeValidator(parse_duration)]
    description: str = ""
    legal_hold: StrictBool = False

    @field_serializer("duration")
    def _dump_duration(self, duration: timedelta | None) -> str | None:
        return format_duration(duration)

    @property
    def retention_ms(self) -> int:
        """Kafka ``retention.ms`` enforcing this class (``-1``: keep forever)."""
        return duration_ms(self.duration)


class RetentionRule(BaseModel):
    """One ordered rule: when ``match`` holds, the event gets ``class``."""

    model_config = _FROZEN

    name: RuleName
    description: str = ""
    match: RuleMatch = RuleMatch()
    class_name: ClassName = Field(alias="class")


@dataclass(frozen=True, slots=True)
class RetentionDecision:
    """The class an event was given, when it expires, and why.

    ``rule`` is the name of the rule that matched, ``None`` when the default
    class applied; ``expires_at`` is ``None`` for a class without expiry.
    """

    class_name: str
    expires_at: datetime | None
    rule: str | None
    policy_version: str

    @property
    def expires_at_text(self) -> str | None:
        """``expires_at`` as ISO-8601 with ``Z``, ``None`` for no expiry."""
        return None if self.expires_at is None else format_instant(self.expires_at)


@dataclass(frozen=True, slots=True)
class UnreachableRule:
    """A rule that can never match because an earlier rule matches everything it would."""

    index: int
    name: str
    shadowed_by_index: int
    shadowed_by_name: str

    def __str__(self) -> str:
        return (
            f"rules[{self.index}] {self.name!r} is unreachable: every event it matches is "
            f"matched first by rules[{self.shadowed_by_index}] {self.shadowed_by_name!r}"
        )


class RetentionPolicy(BaseModel):
    """Retention classes, ordered rules (first match wins) and a default class.

    ``version`` is the explicit version from the file, or else ``sha256:`` and
    the first 16 hex digits of a hash of the policy's content, so two replicas
    with the same policy report the same version.

    Examples
    --------
    >>> policy = RetentionPolicy.from_mapping({
    ...     "default_class": "standard",
    ...     "classes": {"short": {"duration": "7d"}, "standard": {"duration": "30d"}},
    ...     "rules": [{"name": "pii", "match": {"entities": {"any_of": ["*"]}},
    ...                "class": "short"}],
    ... })
    >>> event = {"timestamp": "2026-11-30T12:00:00Z", "model": {"name": "m", "version": "1"}}
    >>> decision = policy.classify(event, {"EMAIL_ADDRESS"})
    >>> decision.class_name, decision.rule, decision.expires_at_text
    ('short', 'pii', '2026-12-07T12:00:00.000Z')
    >>> policy.classify(event, ()).class_name
    'standard'
    """

    model_config = _FROZEN

    version: str = ""
    default_class: ClassName
    classes: dict[ClassName, RetentionClass] = Field(min_length=1)
    rules: tuple[RetentionRule, ...] = ()
    #: Accepts the unsafe settings this policy has (see :meth:`unsafe_settings`).
    override: PolicyOverride | None = None

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        problems: list[str] = []
        known = ", ".join(sorted(self.classes))
        if self.default_class not in self.classes:
            problems.append(
                f"default_class: class {self.default_class!r} is not defined (classes: {known})"
            )
        first_index: dict[str, int] = {}
        for index, rule in enumerate(self.rules):
            if rule.class_name not in self.classes:
                problems.append(
                    f"rules[{index}] {rule.name!r}: class {rule.class_name!r} is not defined "
                    f"(classes: {known})"
                )
            if rule.name in first_index:
                problems.append(
                    f"rules[{index}] {rule.name!r}: duplicate rule name, "
                    f"already used by rules[{first_index[rule.name]}]"
                )
            else:
                first_index[rule.name] = index
        if problems:
            raise RetentionPolicyError(problems)
        if not self.version:
            object.__setattr__(self, "version", self.content_hash())
        return self

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def from_mapping(cls, data: object, *, strict_unreachable: bool = False) -> RetentionPolicy:
        """Validate a parsed policy; raise :class:`RetentionPolicyError` naming each problem.

        With ``strict_unreachable`` a policy with unreachable rules is refused too.
        """
        try:
            policy = cls.model_validate(data)
        except ValidationError as exc:
            raise RetentionPolicyError(_describe(exc, data)) from None
        if strict_unreachable:
            unreachable = policy.unreachable_rules()
            if unreachable:
                raise RetentionPolicyError([str(u) for u in unreachable])
        return policy

    @classmethod
    def from_yaml(cls, text: str, *, strict_unreachable: bool = False) -> RetentionPolicy:
        """Parse and validate a policy from YAML text."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RetentionPolicyError([yaml_problem(exc)]) from None
        return cls.from_mapping(data, strict_unreachable=strict_unreachable)

    @classmethod
    def from_file(cls, path: Path, *, strict_unreachable: bool = False) -> RetentionPolicy:
        """Read, parse and validate a policy file."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise RetentionPolicyError([f"cannot read {path}: {exc.strerror}"]) from None
        return cls.from_yaml(text, strict_unreachable=strict_unreachable)

    def to_mapping(self) -> dict[str, Any]:
        """The policy as plain data in the file's format (round-trips through ``from_mapping``).

        A version that is the content hash is left out, so an edited copy gets
        a fresh hash instead of keeping a stale one.
        """
        data = self.model_dump(mode="json", by_alias=True)
        if self.version == self.content_hash():
            del data["version"]
        if data["override"] is None:
            del data["override"]
        for spec in data["classes"].values():
            if not spec["legal_hold"]:
                del spec["legal_hold"]
        for rule in data["rules"]:
            rule["match"] = {k: v for k, v in rule["match"].items() if v is not None}
            if not rule["description"]:
                del rule["description"]
        return data

    def content_hash(self) -> str:
        """A hash of everything but ``version`` and ``override``: equal policies, equal hashes."""
        body = self.model_dump(mode="json", by_alias=True, exclude={"version", "override"})
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def unsafe_settings(self, max_duration: timedelta | None) -> list[UnsafeSetting]:
        """Classes that keep data forever or longer than ``max_duration`` (``None``: no bound).

        Classes marked ``legal_hold: true`` are exempt; every other one needs ``override``.
        """
        found: list[UnsafeSetting] = []
        for name, spec in self.classes.items():
            if spec.legal_hold:
                continue
            if spec.duration is None:
                found.append(
                    UnsafeSetting(
                        f"classes.{name}.duration",
                        "no expiry; only classes marked legal_hold: true keep data forever",
                    )
                )
            elif max_duration is not None and spec.duration > max_duration:
                found.append(
                    UnsafeSetting(
                        f"classes.{name}.duration",
                        f"longer than retention.max_duration ({format_duration(max_duration)})",
                    )
                )
        return found

    # -- analysis --------------------------------------------------------------------------

    def unreachable_rules(self) -> list[UnreachableRule]:
        """Rules that can never match because an earlier rule matches all their events.

        The check is pairwise and conservative: a rule reported here is
        certainly unreachable; a rule shadowed only by several earlier rules
        together is not reported.
        """
        found: list[UnreachableRule] = []
        for index, rule in enumerate(self.rules):
            for earlier_index in range(index):
                earlier = self.rules[earlier_index]
                if earlier.match.covers(rule.match):
                    found.append(UnreachableRule(index, rule.name, earlier_index, earlier.name))
                    break
        return found

    # -- classification --------------------------------------------------------------------

    def match(self, event: Mapping[str, Any], entities: Iterable[str]) -> RetentionRule | None:
        """The first rule matching the event, ``None`` when the default class applies."""
        view = EventView.of(event, entities)
        for rule in self.rules:
            if rule.match.matches(view):
                return rule
        return None

    def decide(self, rule: RetentionRule | None, timestamp: datetime) -> RetentionDecision:
        """The decision for an event matched by ``rule`` (``None``: the default class)."""
        class_name = self.default_class if rule is None else rule.class_name
        duration = self.classes[class_name].duration
        expires_at = None
        if duration is not None:
            try:
                expires_at = timestamp + duration
            except OverflowError:
                raise EventTimestampError("event expiry is past year 9999") from None
        return RetentionDecision(
            class_name=class_name,
            expires_at=expires_at,
            rule=None if rule is None else rule.name,
            policy_version=self.version,
        )

    def classify(self, event: Mapping[str, Any], entities: Iterable[str]) -> RetentionDecision:
        """Decide the event's class and expiry (``timestamp`` + class duration).

        Raises
        ------
        EventTimestampError
            The event's timestamp is missing or not ISO-8601, or its expiry is
            past year 9999; the caller dead-letters the event.
        """
        timestamp = parse_timestamp(event.get("timestamp"))
        return self.decide(self.match(event, entities), timestamp)


def load_policy(path: Path, *, strict_unreachable: bool = False) -> RetentionPolicy:
    """Load ``path`` (e.g. ``config/retention.yaml``) into a validated policy."""
    return RetentionPolicy.from_file(path, strict_unreachable=strict_unreachable)


def _describe(exc: ValidationError, data: object) -> list[str]:
    """One line per validation error, naming the rule (index and name) where there is one."""
    problems: list[str] = []
    errors = exc.errors()
    for error, (located, message) in zip(errors, describe_errors(errors), strict=True):
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, RetentionPolicyError):
            problems.extend(cause.problems)
            continue
        loc = list(error["loc"])
        where = ""
        field = located
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            where = f"rules[{loc[1]}]"
            name = _rule_name(data, loc[1])
            if name is not None:
                where += f" {name!r}"
            field = located.split(".", 2)[2] if len(loc) > 2 else ""
        head = ": ".join(part for part in (where, field) if part)
        problems.append(f"{head}: {message}" if head else message)
    return problems


def _rule_name(data: object, index: int) -> str | None:
    if isinstance(data, Mapping):
        rules = data.get("rules")
        if isinstance(rules, list) and index < len(rules) and isinstance(rules[index], Mapping):
            name = rules[index].get("name")
            # Only a well-formed name identifies the rule; anything else is not repeated.
            ok = isinstance(name, str) and _RULE_NAME.fullmatch(name) is not None
            return name if ok else None
    return None
