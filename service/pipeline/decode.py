"""Bytes to a validated event dict, with limits that give clear reasons.

Order matters for cost and safety: size first (cheap), then UTF-8 and JSON
(orjson refuses nesting deeper than 1024 on its own), then our depth bound,
then the schema version, then the per-field limits, then the strict schema.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from service.errors import InvalidEvent
from service.pipeline.unknown_fields import EXTRA, UnknownFields, split_unknown, unknown_names
from service.redaction.shapes import plain_key
from service.schema import EVENT_FAST_CHECK, SCHEMA_VERSION, InferenceEvent, Label
from service.settings import LimitSettings
from service.validation import describe_lines

_event_check = EVENT_FAST_CHECK.validator
_event_validator = InferenceEvent.__pydantic_validator__
_label_validator = Label.__pydantic_validator__


_CONTAINERS = (dict, list)


def _depth_exceeds(obj: Any, max_depth: int) -> bool:
    """Whether containers nest deeper than ``max_depth`` (the top object is depth 1).

    Hot path: one loop per container, no generator, and a child is only pushed
    when it is itself a container (orjson gives exact ``dict``/``list``).
    """
    if max_depth < 1:
        return True
    if type(obj) not in _CONTAINERS:
        return False
    stack: list[tuple[Any, int]] = [(obj, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        for value in node.values() if type(node) is dict else node:
            if type(value) in _CONTAINERS:
                if depth >= max_depth:
                    return True
                push((value, depth + 1))
    return False


def _safe_key(part: str | int) -> str:
    """A location part as text, unless it could itself be data (an e-mail used as a key).

    List indices stay; keys follow the DLQ's rule (:func:`service.redaction.shapes.plain_key`).
    """
    if isinstance(part, int):
        return str(part)
    return part if plain_key(part) else "<key>"


def describe_schema_error(exc: ValidationError, limit: int = 5) -> str:
    """Field locations and messages only, never a value (keys follow the DLQ's rule)."""
    lines = describe_lines(
        exc, relabel=lambda loc, _: ".".join(_safe_key(p) for p in loc), limit=limit
    )
    return "; ".join(lines)


def parse_json(raw: bytes, limits: LimitSettings) -> dict[str, Any]:
    obj = _load_object(raw, limits)
    if _depth_exceeds(obj, limits.max_depth):
        raise InvalidEvent(f"nesting deeper than {limits.max_depth}", "too_deep")
    return obj


def _load_object(raw: bytes, limits: LimitSettings) -> dict[str, Any]:
    """Size, UTF-8, JSON and "an object" checks of :func:`parse_json`; no depth bound.

    A record without a value (a tombstone: publishers of compacted topics send them to
    delete a key) or with an empty one gets its own reason, not ``not_json``.
    """
    if not raw:
        raise InvalidEvent("record has no value (a tombstone) or an empty one", "empty_value")
    if len(raw) > limits.max_message_bytes:
        raise InvalidEvent(
            f"message is {len(raw)} bytes, limit is {limits.max_message_bytes}", "too_large"
        )
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        text = str(exc)
        if "UTF-8" in text or "surrogates" in text:
            raise InvalidEvent("message is not valid UTF-8", "invalid_utf8") from None
        if "depth" in text or "recursion" in text:
            raise InvalidEvent(f"nesting deeper than {limits.max_depth}", "too_deep") from None
        raise InvalidEvent("message is not valid JSON", "not_json") from None
    if not isinstance(obj, dict):
        raise InvalidEvent("message must be a JSON object", "invalid_schema")
    return obj


def decode_event(
    raw: bytes,
    limits: LimitSettings,
    unknown_fields: UnknownFields = "reject",
    seen_unknown: list[str] | None = None,
) -> dict[str, Any]:
    """Return the event as a dict, or raise :class:`InvalidEvent` with a reason code.

    Top-level fields schema v1 does not define are appended to ``seen_unknown``
    (whatever the mode) and, per ``unknown_fields``, moved under ``extra``
    (``scan``), removed (``drop``) or left to fail validation (``reject``).
    Kept ones count for the depth bound as if they were under ``extra``, and
    are checked before the schema, so both paths below give the same reasons.

    The checks run in the order of the module docstring, and the first that
    fails gives the reason. Fast path: when the schema accepts the event
    (checked first, with :data:`~service.schema.EVENT_FAST_CHECK`), every
    container outside ``metadata`` is at most 3 deep, so with ``max_depth >= 3``
    only ``metadata`` can break the depth bound; the remaining checks then run
    in the same order and give the same reasons as the full sequence.
    """
    obj = _load_object(raw, limits)
    extra: dict[str, Any] | None = None
    names = unknown_names(obj)
    if names:
        if seen_unknown is not None:
            seen_unknown.extend(names)
        if unknown_fields != "reject":
            extra = split_unknown(obj, names)
            if unknown_fields == "drop":
                extra = None
            elif _depth_exceeds(extra, limits.max_depth - 1):
                raise InvalidEvent(f"nesting deeper than {limits.max_depth}", "too_deep")
    if limits.max_depth >= _SCHEMA_DEPTH:
        try:
            _event_check.validate_python(obj)
        except ValidationError:
            pass
        else:
            metadata = obj.get("metadata")
            if type(metadata) in _CONTAINERS and _depth_exceeds(metadata, limits.max_depth - 1):
                raise InvalidEvent(f"nesting deeper than {limits.max_depth}", "too_deep")
            _check_limits(obj, limits)
            if extra:
                obj[EXTRA] = extra
            return obj
    if _depth_exceeds(obj, limits.max_depth):
        raise InvalidEvent(f"nesting deeper than {limits.max_depth}", "too_deep")
    _check_limits(obj, limits)
    try:
        _event_validator.validate_python(obj)
    except ValidationError as exc:
        raise InvalidEvent(describe_schema_error(exc), "invalid_schema") from None
    if extra:
        obj[EXTRA] = extra
    return obj


#: How deep a schema-valid event nests outside ``metadata``: event > inputs > features.
_SCHEMA_DEPTH = 3


def _check_limits(obj: dict[str, Any], limits: LimitSettings) -> None:
    """Schema version, number of features and text lengths, in that order."""
    version = obj.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise InvalidEvent(
            f"unknown schema_version, this Guardian reads {SCHEMA_VERSION}",
            "unknown_schema_version",
        )
    inputs = obj.get("inputs")
    if isinstance(inputs, dict):
        features = inputs.get("features")
        if isinstance(features, dict) and len(features) > limits.max_features:
            raise InvalidEvent(
                f"{len(features)} features, limit is {limits.max_features}", "too_many_features"
            )
        _check_text(inputs.get("text"), "inputs.text", limits)
    outputs = obj.get("outputs")
    if isinstance(outputs, dict):
        _check_text(outputs.get("text"), "outputs.text", limits)


def decode_label(raw: bytes, limits: LimitSettings) -> dict[str, Any]:
    obj = parse_json(raw, limits)
    if obj.get("schema_version") != SCHEMA_VERSION:
        raise InvalidEvent("unknown schema_version", "unknown_schema_version")
    try:
        _label_validator.validate_python(obj)
    except ValidationError as exc:
        raise InvalidEvent(describe_schema_error(exc), "invalid_schema") from None
    return obj


def _check_text(value: Any, path: str, limits: LimitSettings) -> None:
    if isinstance(value, str) and len(value) > limits.max_text_chars:
        raise InvalidEvent(
            f"{path} has {len(value)} characters, limit is {limits.max_text_chars}", "text_too_long"
        )
