"""Retention policy: named classes with durations and ordered rules that pick one.

The policy is data (``config/retention.yaml``) validated once into frozen
objects. Every event gets exactly one class: the class of the first rule whose
conditions all hold, or the policy's default class. The class decides the
event's expiry (``timestamp + duration``) and the Kafka topic it is written to,
whose ``retention.ms`` enforces that duration (see :mod:`service.retention.topics`).

Rules match on what the retain stage sees: the model name and version, the
tenant, the entity types the redactor found, and ``metadata`` fields. In the
pipeline the retain stage runs after redaction, so metadata conditions should
name fields the redaction policy leaves readable (classification labels, regions,
flags), not free text.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    field_serializer,
    model_validator,
)

from service.overrides import PolicyOverride, UnsafeSetting
from service.retention.errors import EventTimestampError, RetentionPolicyError
from service.validation import describe_lines, yaml_problem

# --------------------------------------------------------------------------- durations

_UNIT_SECONDS: dict[str, float] = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
}
_DURATION_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_DURATION_FULL = re.compile(r"(?:\d+(?:ms|s|m|h|d|w))+")


def parse_duration(value: object) -> timedelta | None:
    """Parse a class duration such as ``"7d"``, ``"12h"``, ``"1d12h"`` or ``None`` (no expiry).

    Units are ``ms``, ``s``, ``m``, ``h``, ``d``, ``w``. A bare number is
    refused: whether ``30`` means seconds or days is exactly the ambiguity that
    deletes data too early. Durations must be positive, because Kafka treats
    ``retention.ms`` of 0 as "delete at once".

    Examples
    --------
    >>> parse_duration("1d12h")
    datetime.timedelta(days=1, seconds=43200)
    >>> parse_duration(None) is None
    True
    """
    if value is None:
        return None
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, str):
        text = value.strip().lower()
        if not _DURATION_FULL.fullmatch(text):
            raise ValueError(
                "duration is not <number><unit>[...] with units ms, s, m, h, d, w "
                "(e.g. '7d', '12h', '1d12h'), or null for no expiry"
            )
        millis = sum(
            int(n) * round(_UNIT_SECONDS[u] * 1000) for n, u in _DURATION_PART.findall(text)
        )
        duration = timedelta(milliseconds=millis)
    else:
        raise ValueError(
            f"duration must be a string such as '7d' or null, not {type(value).__name__}"
        )
    if duration <= timedelta(0):
        raise ValueError("duration must be positive (use null for no expiry)")
    if duration % timedelta(milliseconds=1):
        raise ValueError("duration must be a whole number of milliseconds")
    return duration


def format_duration(duration: timedelta | None) -> str | None:
    """Render a duration in the policy's own format, in the largest exact unit.

    Examples
    --------
    >>> format_duration(timedelta(days=7)), format_duration(timedelta(hours=36))
    ('7d', '36h')
    """
    if duration is None:
        return None
    millis = duration // timedelta(milliseconds=1)
    for unit in ("d", "h", "m", "s"):
        unit_ms = round(_UNIT_SECONDS[unit] * 1000)
        if millis % unit_ms == 0:
            return f"{millis // unit_ms}{unit}"
    return f"{millis}ms"


def duration_ms(duration: timedelta | None) -> int:
    """Kafka ``retention.ms`` for a duration: milliseconds, or ``-1`` for no expiry."""
    if duration is None:
        return -1
    return duration // timedelta(milliseconds=1)


# --------------------------------------------------------------------------- timestamps


def parse_timestamp(value: object) -> datetime:
    """Parse an event's ISO-8601 ``timestamp`` into an aware UTC datetime.

    A timestamp without an offset is taken as UTC, which is what the event
    schema documents. The error never repeats the value.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise EventTimestampError("event timestamp is not ISO-8601") from None
    else:
        raise EventTimestampError("event has no string timestamp")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_instant(instant: datetime) -> str:
    """ISO-8601 in UTC with ``Z``; milliseconds unless the instant needs microseconds.

    Keeping every digit the input had means ``expires_at - timestamp`` equals
    the class duration exactly, which is what the topic's ``retention.ms`` says.

    Examples
    --------
    >>> format_instant(datetime(2026, 11, 30, 12, 0, 0, 123000, tzinfo=UTC))
    '2026-11-30T12:00:00.123Z'
    """
    utc = instant.astimezone(UTC) if instant.tzinfo else instant.replace(tzinfo=UTC)
    timespec = "milliseconds" if utc.microsecond % 1000 == 0 else "microseconds"
    return utc.replace(tzinfo=None).isoformat(timespec=timespec) + "Z"


# --------------------------------------------------------------------------- globs

_MAGIC = re.compile(r"[*?[]")
_RULE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.:/-]{0,127}")


def glob_covers(wide: str, narrow: str) -> bool:
    """Whether every string matched by glob ``narrow`` is also matched by glob ``wide``.

    Conservative: ``False`` means "could not prove it", not "it does not".
    Used only to report unreachable rules, where a missed report is harmless
    and a false one would mislead.
    """
    if wide == narrow or wide == "*":
        return True
    if not _MAGIC.search(narrow):
        return fnmatchcase(narrow, wide)
    prefix = wide[:-1]
    return wide.endswith("*") and not _MAGIC.search(prefix) and narrow.startswith(prefix)


def _to_tuple(value: object) -> object:
    """Let YAML say ``model: credit-*`` as well as ``model: [credit-*, fraud-*]``."""
    if isinstance(value, str | bool | int | float):
        return (value,)
    if isinstance(value, list):
        return tuple(value)
    return value


Glob = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Globs = Annotated[tuple[Glob, ...], BeforeValidator(_to_tuple), Field(min_length=1)]
MetadataValue = StrictBool | StrictInt | StrictFloat | StrictStr
MetadataValues = Annotated[
    tuple[MetadataValue, ...], BeforeValidator(_to_tuple), Field(min_length=1)
]
ClassName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=128)
]
RuleName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.:/-]*$", max_length=128)
]
MetadataPath = Annotated[str, StringConstraints(min_length=1, max_length=256)]


# --------------------------------------------------------------------------- event view


@dataclass(frozen=True, slots=True)
class _EventView:
    """The few fields rules look at, extracted once per event."""

    model: str | None
    version: str | None
    tenant: str | None
    metadata: Mapping[str, Any]
    entities: frozenset[str]

    @classmethod
    def of(cls, event: Mapping[str, Any], entities: Iterable[str]) -> _EventView:
        model = event.get("model")
        name = version = None
        if isinstance(model, Mapping):
            name = model.get("name") if isinstance(model.get("name"), str) else None
            version = model.get("version") if isinstance(model.get("version"), str) else None
        tenant = event.get("tenant")
        metadata = event.get("metadata")
        return cls(
            model=name,
            version=version,
            tenant=tenant if isinstance(tenant, str) else None,
            metadata=metadata if isinstance(metadata, Mapping) else {},
            entities=frozenset(entities),
        )

    def metadata_value(self, path: str) -> object:
        """A metadata value by key, or by dotted path into nested objects."""
        return _metadata_value(self.metadata, path)


_MISSING = object()


def _metadata_value(metadata: Mapping[str, Any], path: str) -> object:
    if path in metadata:
        return metadata[path]
    node: object = metadata
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _value_matches(expected: MetadataValue, actual: object) -> bool:
    """Compare one metadata condition value with the event's value.

    Strings are globs and match strings only. Booleans also match the strings
    ``"true"``/``"false"`` (any case): a legal-hold flag sent as a string by a
    publisher must not be missed. Numbers match numbers, never booleans.
    """
    if isinstance(expected, bool):
        if isinstance(actual, bool):
            return actual is expected
        return isinstance(actual, str) and actual.strip().lower() == str(expected).lower()
    if isinstance(expected, str):
        return isinstance(actual, str) and fnmatchcase(actual, expected)
    return isinstance(actual, int | float) and not isinstance(actual, bool) and actual == expected


def _value_covers(wide: MetadataValue, narrow: MetadataValue) -> bool:
    if isinstance(wide, str) and isinstance(narrow, str):
        return glob_covers(wide, narrow)
    if isinstance(wide, bool) or isinstance(narrow, bool):
        return isinstance(wide, bool) and isinstance(narrow, bool) and wide is narrow
    if isinstance(wide, str) or isinstance(narrow, str):
        return False
    return wide == narrow


def _any_glob(patterns: Iterable[str], value: str | None) -> bool:
    return value is not None and any(fnmatchcase(value, p) for p in patterns)


def _field_covers(wide: tuple[str, ...] | None, narrow: tuple[str, ...] | None) -> bool:
    if wide is None:
        return True
    if narrow is None:
        return False
    return all(any(glob_covers(w, n) for w in wide) for n in narrow)


# --------------------------------------------------------------------------- model

_FROZEN = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class EntityCondition(BaseModel):
    """Conditions on the entity types the redactor found (globs, e.g. ``AWS_*``).

    ``any_of`` holds when at least one found type matches one of the patterns
    (``["*"]``: any PII at all); ``all_of`` when every pattern matches some
    found type. Both given: both must hold.
    """

    model_config = _FROZEN

    any_of: Annotated[tuple[Glob, ...], BeforeValidator(_to_tuple)] = ()
    all_of: Annotated[tuple[Glob, ...], BeforeValidator(_to_tuple)] = ()

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.any_of and not self.all_of:
            raise ValueError("entities needs a non-empty any_of or all_of")
        return self

    def matches(self, found: frozenset[str]) -> bool:
        if self.any_of and not any(_any_glob(self.any_of, e) for e in found):
            return False
        return all(any(fnmatchcase(e, p) for e in found) for p in self.all_of)

    def _guarantees(self, pattern: str) -> bool:
        """Whether every entity set satisfying self contains a type matching ``pattern``."""
        if any(glob_covers(pattern, required) for required in self.all_of):
            return True
        return bool(self.any_of) and all(glob_covers(pattern, a) for a in self.any_of)

    def covers(self, narrow: EntityCondition | None) -> bool:
        """Whether every entity set satisfying ``narrow`` satisfies self (conservative)."""
        if narrow is None:
            return False
        if self.any_of:
            any_ok = any(narrow._guarantees(p) for p in self.any_of) or (
                bool(narrow.any_of)
                and all(any(glob_covers(w, a) for w in self.any_of) for a in narrow.any_of)
            )
            if not any_ok:
                return False
        return all(narrow._guarantees(p) for p in self.all_of)


class RuleMatch(BaseModel):
    """All conditions of one rule; every condition given must hold. No condition: matches all.

    ``model`` and ``model_version`` match ``model.name`` and ``model.version``,
    ``tenant`` the top-level ``tenant``; each takes a glob or a list of globs
    (any of them). ``metadata`` maps a key (or dotted path) under ``metadata``
    to a value or a list of values (any of them); string values are globs.
    """

    model_config = _FROZEN

    model: Globs | None = None
    model_version: Globs | None = None
    tenant: Globs | None = None
    entities: EntityCondition | None = None
    metadata: dict[MetadataPath, MetadataValues] | None = Field(default=None, min_length=1)

    def matches(self, view: _EventView) -> bool:
        if self.model is not None and not _any_glob(self.model, view.model):
            return False
        if self.model_version is not None and not _any_glob(self.model_version, view.version):
            return False
        if self.tenant is not None and not _any_glob(self.tenant, view.tenant):
            return False
        if self.entities is not None and not self.entities.matches(view.entities):
            return False
        if self.metadata is not None:
            for path, values in self.metadata.items():
                actual = view.metadata_value(path)
                if actual is _MISSING or not any(_value_matches(v, actual) for v in values):
                    return False
        return True

    def covers(self, narrow: RuleMatch) -> bool:
        """Whether every event matching ``narrow`` also matches self (conservative)."""
        if not (
            _field_covers(self.model, narrow.model)
            and _field_covers(self.model_version, narrow.model_version)
            and _field_covers(self.tenant, narrow.tenant)
        ):
            return False
        if self.entities is not None and not self.entities.covers(narrow.entities):
            return False
        if self.metadata is None:
            return True
        if narrow.metadata is None:
            return False
        for path, wide_values in self.metadata.items():
            narrow_values = narrow.metadata.get(path)
            if narrow_values is None:
                return False
            if not all(any(_value_covers(w, n) for w in wide_values) for n in narrow_values):
                return False
        return True


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
        view = _EventView.of(event, entities)
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
        """What the rules look at, normalised as :class:`_EventView` does; ``None``: uncacheable."""
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
                value = _metadata_value(metadata, path)
                if value is _MISSING:
                    parts.append(_MISSING)
                elif type(value) in _CACHEABLE:
                    # The type too: True == 1 == 1.0, and the rules tell them apart.
                    parts.append((type(value), value))
                else:
                    return None
            values = tuple(parts)
        return (name, version, tenant, entities, values)


def load_policy(path: Path, *, strict_unreachable: bool = False) -> RetentionPolicy:
    """Load ``path`` (e.g. ``config/retention.yaml``) into a validated policy."""
    return RetentionPolicy.from_file(path, strict_unreachable=strict_unreachable)


def _describe(exc: ValidationError, data: object) -> list[str]:
    """One line per validation error, naming the rule (index and name) where there is one."""

    def by_rule(loc: tuple[Any, ...], located: str) -> str:
        if not (len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int)):
            return located
        where = f"rules[{loc[1]}]"
        name = _rule_name(data, loc[1])
        if name is not None:
            where += f" {name!r}"
        field = located.split(".", 2)[2] if len(loc) > 2 else ""
        return ": ".join(part for part in (where, field) if part)

    problems: list[str] = []
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, RetentionPolicyError):
            problems.extend(cause.problems)  # a rule's own check, already one line per problem
        else:
            problems.extend(describe_lines([error], root="", relabel=by_rule))
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
