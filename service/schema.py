"""Inference event and label, schema v1.

The models are strict: a feature typed as a string is not silently turned into
a number, and unknown top-level fields are rejected (an input event may not
carry its own ``guardian`` block and so spoof its retention). What a publisher
adds beyond v1 is taken out before validation and kept under ``extra``, dropped
or left to fail, per ``schema.unknown_fields``
(:mod:`service.pipeline.unknown_fields`); ``guardian`` always fails. The pipeline keeps
the parsed JSON dict as the event and uses these models only to validate it,
which is cheaper than building and dumping model instances per event.

Examples
--------
>>> event = {
...     "schema_version": 1, "event_id": "e-1", "timestamp": "2026-11-30T12:00:00Z",
...     "model": {"name": "credit-risk", "version": "3.2.0"},
... }
>>> InferenceEvent.model_validate(event).model.name
'credit-risk'
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    field_validator,
    with_config,
)
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

SCHEMA_VERSION = 1

Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-/]*$")
]
FeatureValue = Annotated[bool | int | float | str | None, Field(union_mode="left_to_right")]
Scalar = Annotated[bool | int | float | str, Field(union_mode="left_to_right")]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


def _parse_timestamp(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("timestamp must be ISO-8601, e.g. 2026-11-30T12:00:00.123Z") from exc
    if parsed.tzinfo is None:
        raise ValueError("timestamp must carry a time zone (Z or +hh:mm)")
    return value


class ModelRef(_Strict):
    name: Identifier
    version: Identifier


class Inputs(_Strict):
    features: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=128)], FeatureValue
    ] = Field(default_factory=dict)
    text: str | None = None


class Outputs(_Strict):
    prediction: Scalar | None = None
    score: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    text: str | None = None


class Subject(_Strict):
    protected: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], Scalar] = Field(
        default_factory=dict
    )


class InferenceEvent(_Strict):
    """One prediction, as a serving system publishes it on ``inference.events``."""

    schema_version: Literal[1]
    event_id: Identifier
    timestamp: str = Field(examples=["2026-11-30T12:00:00.123Z"])
    model: ModelRef
    tenant: Identifier | None = None
    inputs: Inputs = Field(default_factory=Inputs)
    outputs: Outputs = Field(default_factory=Outputs)
    latency_ms: Annotated[float, Field(ge=0.0)] | None = None
    subject: Subject | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    _check_timestamp = field_validator("timestamp")(_parse_timestamp)


class Label(_Strict):
    """Ground truth for an earlier event, on ``inference.labels``; may arrive hours later."""

    schema_version: Literal[1]
    event_id: Identifier
    model: ModelRef
    label: Scalar
    timestamp: str

    _check_timestamp = field_validator("timestamp")(_parse_timestamp)


# --------------------------------------------------------------------------- fast check
# The same strict schema as InferenceEvent, as TypedDicts: pydantic-core validates them
# without building (frozen) model instances, about twice as fast. Only for accepting or
# rejecting; a rejected event is validated again with the model, whose errors (field
# locations and messages) are what the DLQ shows. tests/unit/test_schema_fast_check.py checks
# that both accept and reject the same inputs; the models stay the published JSON Schema.

_STRICT_DICT = ConfigDict(strict=True, extra="forbid")


@with_config(_STRICT_DICT)
class _ModelRefDict(TypedDict):
    name: Identifier
    version: Identifier


@with_config(_STRICT_DICT)
class _InputsDict(TypedDict, total=False):
    features: dict[Annotated[str, StringConstraints(min_length=1, max_length=128)], FeatureValue]
    text: str | None


@with_config(_STRICT_DICT)
class _OutputsDict(TypedDict, total=False):
    prediction: Scalar | None
    score: Annotated[float, Field(ge=0.0, le=1.0)] | None
    text: str | None


@with_config(_STRICT_DICT)
class _SubjectDict(TypedDict, total=False):
    protected: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], Scalar]


@with_config(_STRICT_DICT)
class _InferenceEventDict(TypedDict):
    schema_version: Literal[1]
    event_id: Identifier
    timestamp: Annotated[str, AfterValidator(_parse_timestamp)]
    model: _ModelRefDict
    tenant: NotRequired[Identifier | None]
    inputs: NotRequired[_InputsDict]
    outputs: NotRequired[_OutputsDict]
    latency_ms: NotRequired[Annotated[float, Field(ge=0.0)] | None]
    subject: NotRequired[_SubjectDict | None]
    metadata: NotRequired[dict[str, Any]]


EVENT_FAST_CHECK = TypeAdapter(_InferenceEventDict)
"""Accepts exactly the dicts :class:`InferenceEvent` accepts, faster; errors come from the model."""


def json_schemas() -> dict[str, Any]:
    """The JSON Schemas that ``guardian schema`` prints for publishers."""
    return {
        "inference_event": InferenceEvent.model_json_schema(),
        "label": Label.model_json_schema(),
    }


def schema_text() -> str:
    return json.dumps(json_schemas(), indent=2, sort_keys=True)
