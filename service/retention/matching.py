"""What a retention rule matches on, and whether one rule's conditions cover another's.

Rules match on what the retain stage sees: the model name and version, the
tenant, the entity types the redactor found, and ``metadata`` fields (by key or
dotted path). Strings are globs. ``covers`` answers, conservatively, whether
every event one condition matches is also matched by another; the policy uses it
to report unreachable rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Annotated, Any, Self

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
    model_validator,
)

# --------------------------------------------------------------------------- globs

_MAGIC = re.compile(r"[*?[]")


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
MetadataPath = Annotated[str, StringConstraints(min_length=1, max_length=256)]


# --------------------------------------------------------------------------- event view


@dataclass(frozen=True, slots=True)
class EventView:
    """The few fields rules look at, extracted once per event."""

    model: str | None
    version: str | None
    tenant: str | None
    metadata: Mapping[str, Any]
    entities: frozenset[str]

    @classmethod
    def of(cls, event: Mapping[str, Any], entities: Iterable[str]) -> EventView:
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
        return metadata_value(self.metadata, path)


MISSING = object()


def metadata_value(metadata: Mapping[str, Any], path: str) -> object:
    if path in metadata:
        return metadata[path]
    node: object = metadata
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
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


# --------------------------------------------------------------------------- conditions

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

    def matches(self, view: EventView) -> bool:
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
                if actual is MISSING or not any(_value_matches(v, actual) for v in values):
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
