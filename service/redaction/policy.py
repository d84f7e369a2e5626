"""The redaction policy: what is scanned, for which entities, and what replaces a finding.

The policy is data (``config/redaction.yaml``) validated once into frozen typed
objects. It holds no secret: HMAC keys come from :class:`RedactionSettings`, so a
policy can be shown on the control plane and shared through ``guardian.config``.

Paths are dotted, with ``*`` for exactly one segment (a key or a list index) and
``**`` for any number of segments: ``metadata.**`` is every string under
``metadata``; ``inputs.features.*`` every string feature.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import regex
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from service.overrides import PolicyOverride, UnsafeSetting
from service.validation import describe_lines, location, yaml_problem

#: Entities with a built-in recognizer (no download needed).
PII_ENTITIES = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "US_SSN",
    "US_ITIN",
    "US_PASSPORT",
    "US_DRIVER_LICENSE",
    "US_BANK_NUMBER",
    "UK_NHS",
    "MEDICAL_LICENSE",
    "CRYPTO",
    "MAC_ADDRESS",
    "URL",
    "UUID",
)
SECRET_ENTITIES = (
    "AWS_ACCESS_KEY",
    "GITHUB_TOKEN",
    "SLACK_TOKEN",
    "API_KEY",
    "JWT",
    "PRIVATE_KEY",
    "SECRET",
)
#: Entities only available when ``RedactionSettings.spacy_model`` names an installed pipeline.
NER_ENTITIES = ("PERSON", "LOCATION", "ORGANIZATION", "NRP", "DATE_TIME")
#: URL and UUID are opt-in: most of them in inference logs are links and request ids.
DEFAULT_ENTITIES = tuple(e for e in PII_ENTITIES if e not in ("URL", "UUID")) + SECRET_ENTITIES
#: NER entities looked for on ``ner_paths`` by default (NRP, ORGANIZATION are opt-in).
DEFAULT_NER_ENTITIES = ("PERSON", "LOCATION")

OperatorName = Literal["replace", "mask", "redact", "hmac", "drop", "keep"]
_ENTITY_NAME = regex.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
_SEGMENT = regex.compile(r"^(\*\*|\*|[^.*]+)$")


class RedactionPolicyError(ValueError):
    """A policy that does not validate; the message names the rule and the problem."""


class OperatorSpec(BaseModel):
    """What replaces a finding (or a whole structured field).

    ``replace`` writes ``<ENTITY>``; ``mask`` overwrites characters with
    ``mask_char`` keeping ``keep_last``; ``redact`` removes the span; ``hmac``
    writes ``<ENTITY:key_id:digest>``, a keyed pseudonym stable across events and
    replicas; ``drop`` removes the whole field; ``keep`` leaves the value as it is
    (recorded, not redacted: a policy using it needs an override, see
    :mod:`service.overrides`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: OperatorName
    mask_char: str = Field(default="*", min_length=1, max_length=1)
    keep_last: int = Field(default=0, ge=0, le=8)
    digest_chars: int = Field(default=16, ge=8, le=64)


def _operator_shorthand(value: Any) -> Any:
    return {"type": value} if isinstance(value, str) else value


Operator = Annotated[OperatorSpec, BeforeValidator(_operator_shorthand)]


def _check_path(path: str) -> str:
    segments = path.split(".")
    if not path or not all(_SEGMENT.match(s) for s in segments):
        raise ValueError(
            "path must be dotted segments, each a key, '*' or '**' (e.g. 'metadata.**')"
        )
    if segments[0] == "guardian":
        raise ValueError("path: the 'guardian' block is written by Guardian itself")
    return path


def _check_entity(name: str) -> str:
    if not _ENTITY_NAME.match(name):
        raise ValueError("entity names must be UPPER_SNAKE_CASE")
    return name


class PatternSpec(BaseModel):
    """One regular expression of a custom recognizer (Presidio ``Pattern``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    regex: str = Field(min_length=1)
    score: float = Field(ge=0.0, le=1.0)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            regex.compile(value)
        except regex.error as exc:
            raise ValueError(f"regex does not compile: {exc}") from None
        return value


class CustomRecognizerSpec(BaseModel):
    """A pattern recognizer declared in YAML: regexes, context words, optional validator."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    entity: str
    patterns: list[PatternSpec] = Field(min_length=1)
    context: list[str] = Field(default_factory=list)
    validator: Literal["luhn"] | None = None
    case_sensitive: bool = False

    _entity = field_validator("entity")(classmethod(lambda cls, v: _check_entity(v)))


class ScanRule(BaseModel):
    """Scan the strings at ``path`` for ``entities`` (``None``: the policy's entities)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    entities: list[str] | None = None
    #: Per-entity operators overriding the policy's; key ``default`` for the rest.
    operators: dict[str, Operator] = Field(default_factory=dict)

    _path = field_validator("path")(classmethod(lambda cls, v: _check_path(v)))


class FieldRule(BaseModel):
    """Apply ``operator`` to the value at ``path`` without scanning it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    operator: Operator
    #: Entity name recorded in ``guardian.redactions`` and used in replacements.
    entity: str = "FIELD"

    _path = field_validator("path")(classmethod(lambda cls, v: _check_path(v)))
    _entity = field_validator("entity")(classmethod(lambda cls, v: _check_entity(v)))


def _fields_shorthand(value: Any) -> Any:
    """Accept ``{"inputs.features.email": "hmac"}`` as well as a list of rules."""
    if isinstance(value, Mapping):
        rules = []
        for path, spec in value.items():
            if isinstance(spec, str):
                rules.append({"path": path, "operator": spec})
            elif isinstance(spec, Mapping):
                rules.append({"path": path, **spec})
            else:
                rules.append({"path": path, "operator": spec})
        return rules
    return value


def _default_scan() -> list[ScanRule]:
    """Every string of the event but its identifiers, and every key under features and metadata.

    A wildcard as the last segment scans the keys it matches too; ``outputs.*``
    covers ``prediction`` (and any other output), ``extra.**`` the unknown
    top-level fields the schema keeps there.
    """
    return [
        ScanRule(path="inputs.text"),
        ScanRule(path="outputs.text"),
        ScanRule(path="outputs.*"),
        ScanRule(path="subject.protected.*"),
        ScanRule(path="metadata.**"),
        ScanRule(path="inputs.features.*"),
        ScanRule(path="extra.**"),  # unknown top-level fields kept by schema.unknown_fields=scan
    ]


class RedactionPolicy(BaseModel):
    """The whole redaction policy, validated; ``version`` identifies it everywhere.

    Examples
    --------
    >>> p = RedactionPolicy.from_mapping({"fields": {"inputs.features.email": "hmac"}})
    >>> p.uses_hmac, len(p.version)
    (True, 12)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Explicit version, or ``None`` for a hash of the content.
    version: str | None = None
    language: Literal["en"] = "en"
    #: Findings scoring below this are ignored (phones without context score 0.4).
    score_threshold: float = Field(default=0.4, ge=0.0, le=1.0)
    entities: list[str] = Field(default_factory=lambda: list(DEFAULT_ENTITIES))
    #: Phone regions tried by the phone recognizer; each region costs a full pass.
    phone_regions: list[str] = Field(default_factory=lambda: ["US", "GB", "DE", "FR", "IN"])
    allow_list: list[str] = Field(default_factory=list)
    allow_list_match: Literal["exact", "regex"] = "exact"
    #: Per-entity operators; ``default`` covers entities not listed.
    operators: dict[str, Operator] = Field(
        default_factory=lambda: {"default": OperatorSpec(type="replace")}
    )
    scan: list[ScanRule] = Field(default_factory=_default_scan)
    fields: Annotated[list[FieldRule], BeforeValidator(_fields_shorthand)] = Field(
        default_factory=list
    )
    recognizers: list[CustomRecognizerSpec] = Field(default_factory=list)
    #: Names and places looked for, where a spaCy NER pipeline is installed, on ``ner_paths``.
    ner_entities: list[str] = Field(default_factory=lambda: list(DEFAULT_NER_ENTITIES))
    #: Strings read by the NER model (free text; NER costs ~1 ms per 200 characters).
    ner_paths: list[str] = Field(default_factory=lambda: ["inputs.text", "outputs.text"])

    @field_validator("ner_paths")
    @classmethod
    def _ner_paths(cls, value: list[str]) -> list[str]:
        return [_check_path(v) for v in value]

    @field_validator("ner_entities")
    @classmethod
    def _ner_entities(cls, value: list[str]) -> list[str]:
        for i, entity in enumerate(value):
            if entity not in NER_ENTITIES:
                raise ValueError(f"item {i} is not an NER entity (one of {list(NER_ENTITIES)})")
        return value

    #: Accepts the unsafe settings this policy has (see :meth:`unsafe_settings`).
    override: PolicyOverride | None = None

    @field_validator("entities")
    @classmethod
    def _entities_named(cls, value: list[str]) -> list[str]:
        for i, entity in enumerate(value):
            if not _ENTITY_NAME.match(entity):
                raise ValueError(f"entities[{i}] must be UPPER_SNAKE_CASE")
        return value

    @field_validator("phone_regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        for i, region in enumerate(value):
            if not regex.match(r"^[A-Z]{2}$", region):
                raise ValueError(f"phone_regions[{i}] must be an ISO 3166 alpha-2 code")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RedactionPolicy:
        # Messages name the place (index, rule) and never repeat the value they refuse.
        known = set(PII_ENTITIES) | set(SECRET_ENTITIES) | set(NER_ENTITIES)
        known |= {r.entity for r in self.recognizers}
        self._entities_known(known)
        names = [r.name for r in self.recognizers]
        dupes = [i for i, n in enumerate(names) if names.index(n) != i]
        if dupes:
            raise ValueError(f"recognizers[{dupes[0]}]: duplicate name")
        if self.allow_list_match == "regex":
            for i, term in enumerate(self.allow_list):
                try:
                    regex.compile(term)
                except regex.error:
                    raise ValueError(
                        f"allow_list[{i}]: does not compile as a regular expression"
                    ) from None
        if self.version is None:
            object.__setattr__(self, "version", self.content_hash()[:12])
        return self

    def _entities_known(self, known: set[str]) -> None:
        """Every entity named (looked for, or given an operator) is one the engine knows."""
        for i, entity in enumerate(self.entities):
            if entity not in known:
                raise ValueError(f"entities[{i}]: unknown entity")
        for key in self.operators:
            if key != "default" and key not in known:
                raise ValueError("operators: unknown entity (keys are entity names or 'default')")
        for i, rule in enumerate(self.scan):
            for j, entity in enumerate(rule.entities or []):
                if entity not in known:
                    raise ValueError(f"scan[{i}].entities[{j}]: unknown entity")
            for key in rule.operators:
                if key != "default" and key not in known:
                    raise ValueError(f"scan[{i}].operators: operator for an unknown entity")

    def content_hash(self) -> str:
        """Hex SHA-256 of what the policy does: everything but ``version`` and ``override``.

        Engines and findings are cached by it, so a policy that changes keeps
        no stale engine even when its explicit ``version`` stays the same.
        """
        content = self.model_dump_json(exclude={"version", "override"})
        return hashlib.sha256(content.encode()).hexdigest()

    def unsafe_settings(self) -> list[UnsafeSetting]:
        """Settings that switch redaction off somewhere; each needs ``override``."""
        found: list[UnsafeSetting] = []
        if not self.scan:
            found.append(UnsafeSetting("scan", "no scan paths: no text is redacted"))
        if not self.entities:
            found.append(
                UnsafeSetting("entities", "no entities: rules without their own find nothing")
            )
        for key, op in self.operators.items():
            if op.type == "keep":
                found.append(UnsafeSetting(f"operators.{key}", "operator keep leaves PII in place"))
        for i, rule in enumerate(self.scan):
            if rule.entities == []:
                found.append(UnsafeSetting(f"scan[{i}].entities", "no entities: path not redacted"))
            for key, op in rule.operators.items():
                if op.type == "keep":
                    found.append(
                        UnsafeSetting(
                            f"scan[{i}].operators.{key}", "operator keep leaves PII in place"
                        )
                    )
        for i, field_rule in enumerate(self.fields):
            if field_rule.operator.type == "keep":
                found.append(
                    UnsafeSetting(
                        f"fields[{i}].operator", "operator keep leaves the field unredacted"
                    )
                )
        return found

    # ------------------------------------------------------------------ queries
    @property
    def uses_hmac(self) -> bool:
        """Whether any rule pseudonymises, so start-up must have an HMAC key."""
        ops = list(self.operators.values()) + [f.operator for f in self.fields]
        ops += [op for rule in self.scan for op in rule.operators.values()]
        return any(op.type == "hmac" for op in ops)

    @property
    def all_entities(self) -> frozenset[str]:
        """Every entity some scan rule looks for (what the engine must recognise)."""
        found = set()
        for rule in self.scan:
            found |= set(rule.entities if rule.entities is not None else self.entities)
        return frozenset(found)

    def operator_for(self, rule: ScanRule, entity: str) -> OperatorSpec:
        """The operator for ``entity`` under ``rule``.

        The path's own table wins (its entity entry, then its ``default``), then
        the policy's (entity, then ``default``), then ``replace``.
        """
        for table in (rule.operators, self.operators):
            if entity in table:
                return table[entity]
            if "default" in table:
                return table["default"]
        return OperatorSpec(type="replace")

    def entities_for(self, rule: ScanRule) -> tuple[str, ...]:
        """Entities analysed under ``rule``, sorted so equal rules share cache entries."""
        return tuple(sorted(rule.entities if rule.entities is not None else self.entities))

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> RedactionPolicy:
        """Validate a mapping, raising :class:`RedactionPolicyError` naming each bad rule."""
        try:
            return cls.model_validate(dict(data or {}))
        except ValidationError as exc:
            raise RedactionPolicyError(_describe(exc, data or {})) from None

    @classmethod
    def from_yaml(cls, path: Path | str) -> RedactionPolicy:
        """Load and validate a YAML policy file."""
        try:
            text = Path(path).read_text(encoding="utf-8")
            data = yaml.safe_load(text)
        except OSError as exc:
            raise RedactionPolicyError(f"redaction policy {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise RedactionPolicyError(f"redaction policy {path}: {yaml_problem(exc)}") from None
        if data is not None and not isinstance(data, Mapping):
            raise RedactionPolicyError(f"redaction policy {path}: top level must be a mapping")
        try:
            return cls.from_mapping(data)
        except RedactionPolicyError as exc:
            raise RedactionPolicyError(f"redaction policy {path}: {exc}") from None


_LABEL = regex.compile(r"^[A-Za-z0-9_.*-]{1,128}$")


def _describe(exc: ValidationError, data: Mapping[str, Any]) -> str:
    """One line per error, naming the rule (its path or name) rather than only an index.

    A rule's label is shown only when it is itself well-formed; messages come
    through :func:`service.validation.describe_lines`, so no value is repeated.
    """

    def by_rule(loc: tuple[Any, ...], where: str) -> str:
        if not (
            len(loc) >= 2
            and loc[0] in ("scan", "fields", "recognizers")
            and isinstance(loc[1], int)
        ):
            return where
        items = data.get(loc[0])
        if loc[0] == "fields":
            items = _fields_shorthand(items)
        item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
        if isinstance(item, Mapping):
            label = item.get("path") or item.get("name")
            if isinstance(label, str) and _LABEL.match(label):
                tail = location(loc[2:])
                return f"{loc[0]}[{loc[1]}] ({label!r})" + (f".{tail}" if tail else "")
        return where

    return "; ".join(describe_lines(exc, root="", relabel=by_rule))
