"""Schema v1 and the decode limits: every malformed kind gets its own reason."""

from __future__ import annotations

import copy
import json
from typing import Any

import orjson
import pytest

from service.errors import InvalidEvent
from service.pipeline.decode import decode_event, decode_label
from service.schema import json_schemas
from service.settings import LimitSettings

LIMITS = LimitSettings(max_message_bytes=16384, max_text_chars=100, max_features=5, max_depth=8)

VALID: dict[str, Any] = {
    "schema_version": 1,
    "event_id": "7b0c6a9e-5f0e-4f43-9a49-2d2b9c1f6f10",
    "timestamp": "2026-11-30T12:00:00.123Z",
    "model": {"name": "credit-risk", "version": "3.2.0"},
    "tenant": "acme",
    "inputs": {"features": {"age": 41, "income": 52000.0, "country": "DE"}, "text": "hi"},
    "outputs": {"prediction": 1, "score": 0.83, "text": "ok"},
    "latency_ms": 12.5,
    "subject": {"protected": {"gender": "f", "age_band": "40-49"}},
    "metadata": {"any": {"nested": ["free", "form"]}},
}


def with_(path: str, value: Any) -> bytes:
    event = copy.deepcopy(VALID)
    node = event
    *parents, last = path.split(".")
    for p in parents:
        node = node[p]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return orjson.dumps(event)


_DELETE = object()


def test_valid_event_round_trips_unchanged() -> None:
    assert decode_event(orjson.dumps(VALID), LIMITS) == VALID


def test_minimal_event_is_valid() -> None:
    minimal = {k: VALID[k] for k in ("schema_version", "event_id", "timestamp", "model")}
    assert decode_event(orjson.dumps(minimal), LIMITS) == minimal


@pytest.mark.parametrize(
    ("raw", "reason", "detail_part"),
    [
        (b"not json", "not_json", "not valid JSON"),
        (b"\xff\xfe{}", "invalid_utf8", "UTF-8"),
        (b'{"a": "\xed\xa0\x80"}', "invalid_utf8", "UTF-8"),
        (b"[1, 2]", "invalid_schema", "JSON object"),
        (b"[" * 5000 + b"]" * 5000, "too_deep", "nesting"),
        (b'{"a":' * 9 + b"1" + b"}" * 9, "too_deep", "deeper than 8"),
        (b'{"x": "' + b"a" * 20000 + b'"}', "too_large", "limit is 16384"),
        (with_("schema_version", 2), "unknown_schema_version", "schema_version"),
        (with_("schema_version", True), "unknown_schema_version", "schema_version"),
        (with_("event_id", _DELETE), "invalid_schema", "event_id: Field required"),
        (with_("model.version", _DELETE), "invalid_schema", "model.version"),
        (with_("timestamp", "yesterday"), "invalid_schema", "ISO-8601"),
        (with_("timestamp", "2026-11-30T12:00:00"), "invalid_schema", "time zone"),
        (with_("outputs.score", 1.5), "invalid_schema", "outputs.score"),
        (with_("outputs.score", "0.5"), "invalid_schema", "outputs.score"),
        (with_("inputs.features", {"a": [1]}), "invalid_schema", "inputs.features.a"),
        (with_("inputs.features", dict.fromkeys("abcdef", 1)), "too_many_features", "limit is 5"),
        (with_("inputs.text", "x" * 101), "text_too_long", "inputs.text"),
        (with_("outputs.text", "x" * 101), "text_too_long", "outputs.text"),
        (with_("guardian", {"retention": {"class": "legal_hold"}}), "invalid_schema", "guardian"),
        (with_("model.name", "bad name!"), "invalid_schema", "model.name"),
        (with_("latency_ms", -1), "invalid_schema", "latency_ms"),
    ],
)
def test_malformed_events_get_a_reason(raw: bytes, reason: str, detail_part: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        decode_event(raw, LIMITS)
    assert info.value.dlq_reason == reason
    assert detail_part in info.value.detail


def test_error_detail_never_contains_the_value() -> None:
    secret = "alice@example.com"
    raw = with_("inputs.features", {"email": {"nested": secret}})
    with pytest.raises(InvalidEvent) as info:
        decode_event(raw, LimitSettings())
    assert secret not in info.value.detail
    raw = with_("metadata", {secret: 1}) + b""
    # a key that looks like data is masked in error locations
    bad = orjson.loads(raw)
    bad["inputs"]["features"] = {secret: [1]}
    with pytest.raises(InvalidEvent) as info:
        decode_event(orjson.dumps(bad), LimitSettings())
    assert secret not in info.value.detail and "<key>" in info.value.detail


def test_label_schema() -> None:
    label = {
        "schema_version": 1,
        "event_id": "e-1",
        "model": {"name": "m", "version": "1"},
        "label": 1,
        "timestamp": "2026-11-30T12:00:00Z",
    }
    assert decode_label(orjson.dumps(label), LIMITS) == label
    with pytest.raises(InvalidEvent):
        decode_label(orjson.dumps({**label, "label": [1]}), LIMITS)


def test_json_schema_names_required_fields() -> None:
    schemas = json_schemas()
    event = schemas["inference_event"]
    assert set(event["required"]) == {"schema_version", "event_id", "timestamp", "model"}
    assert event["additionalProperties"] is False
    assert set(schemas["label"]["required"]) >= {"event_id", "label", "model"}
    json.dumps(schemas)  # serialisable
