"""Typed config of the text statistics of LLM traffic (``config/text.yaml``)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

Statistic = Literal["chars", "tokens", "language", "empty", "refusal", "pii", "ngram_js"]
ALL_STATISTICS: tuple[Statistic, ...] = (
    "chars",
    "tokens",
    "language",
    "empty",
    "refusal",
    "pii",
    "ngram_js",
)

#: Phrases that open or make up a refusal in common chat models' answers (lower-case).
DEFAULT_REFUSALS = (
    r"^\s*(i'?m|i am) (sorry|afraid)\b",
    r"\bi (can(no|')t|cannot|won'?t|am unable to|'m unable to) "
    r"(help|assist|comply|provide|do that)",
    r"\bas an ai( language model)?\b",
    r"\bi('m| am) not able to (help|assist|provide)",
    r"\b(against|violates?) (my|our) (guidelines|polic(y|ies))\b",
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelTextConfig(_Frozen):
    """Text statistics for the models whose name matches ``model`` (a glob).

    Parameters
    ----------
    fields
        Stream name -> path of a text field in the event (``inputs.text``,
        ``outputs.text``). Streams are named ``text.<name>.<statistic>``.
    statistics
        Which statistics to compute (all by default).
    refusal_fields
        Fields checked for refusal-like answers (outputs, usually).
    reference_texts
        Texts of each field that form the n-gram reference profile.
    language_min_chars
        Shorter texts are answered ``und`` (undetermined): identifiers guess on a few letters.
    """

    model: str = "*"
    fields: dict[str, str] = Field(
        default_factory=lambda: {"input": "inputs.text", "output": "outputs.text"}
    )
    statistics: tuple[Statistic, ...] = ALL_STATISTICS
    refusal_fields: tuple[str, ...] = ("output",)
    refusal_patterns: tuple[str, ...] = DEFAULT_REFUSALS
    reference_texts: Annotated[int, Field(ge=10, le=100_000)] = 500
    buckets: Annotated[int, Field(ge=64, le=65_536)] = 1024
    language_min_chars: Annotated[int, Field(ge=0)] = 20
    #: Entities tracked per field (``text.<field>.pii.<ENTITY>``); further ones are not.
    max_entities: Annotated[int, Field(ge=0, le=200)] = 32

    @field_validator("fields")
    @classmethod
    def _names(cls, fields: dict[str, str]) -> dict[str, str]:
        for name, path in fields.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name):
                raise ValueError(f"field name {name!r}: lower-case letters, digits, _")
            if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*){0,7}", path):
                raise ValueError(f"field {name!r}: {path!r} is not a dotted path")
        return fields

    @field_validator("refusal_patterns")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"refusal pattern {pattern!r}: {exc}") from None
        return patterns


class TextConfig(_Frozen):
    """All text statistics: the first entry whose glob matches a model applies."""

    models: tuple[ModelTextConfig, ...] = ()
    #: (model, version, field) streams kept at most.
    max_streams: Annotated[int, Field(ge=1)] = 600

    def for_model(self, model: str) -> ModelTextConfig | None:
        for entry in self.models:
            if fnmatch.fnmatchcase(model, entry.model):
                return entry
        return None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> TextConfig:
        return cls.model_validate(dict(data or {}))

    @classmethod
    def load(cls, path: str | Path) -> TextConfig:
        """Read and validate a YAML file such as ``config/text.yaml``."""
        with Path(path).open(encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping at the top level")
        return cls.from_mapping(data)
