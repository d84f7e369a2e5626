"""The TypedDict fast check accepts and rejects exactly what the InferenceEvent model does."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from service.schema import EVENT_FAST_CHECK, InferenceEvent
from tests.unit.test_schema import VALID

_fast = EVENT_FAST_CHECK.validator
_model = InferenceEvent.__pydantic_validator__


def _accepts(validator: Any, obj: Any) -> bool:
    try:
        validator.validate_python(obj)
    except ValidationError:
        return False
    return True


def _agree(obj: Any) -> bool:
    fast, model = _accepts(_fast, obj), _accepts(_model, obj)
    assert fast == model, f"fast check {'accepts' if fast else 'rejects'}, the model does not"
    return fast


def _edited(path: str, value: Any) -> dict[str, Any]:
    event = copy.deepcopy(VALID)
    node = event
    *parents, last = path.split(".")
    for p in parents:
        node = node[p]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return event


_DELETE = object()

# The malformed-schema rows of tests/unit/test_schema.py, plus the corners of each field.
_TABLE: list[tuple[str, Any]] = [
    ("event_id", _DELETE),
    ("model.version", _DELETE),
    ("timestamp", "yesterday"),
    ("timestamp", "2026-11-30T12:00:00"),
    ("timestamp", "2026-11-30T12:00:00+02:00"),
    ("outputs.score", 1.5),
    ("outputs.score", "0.5"),
    ("outputs.score", 1),
    ("outputs.score", True),
    ("outputs.score", None),
    ("inputs.features", {"a": [1]}),
    ("inputs.features", {"": 1}),
    ("inputs.features", {"k" * 129: 1}),
    ("inputs.features", {"a": None, "b": True, "c": "x", "d": 2, "e": 2.5}),
    ("inputs.text", None),
    ("inputs.text", 3),
    ("inputs", None),
    ("inputs", {}),
    ("inputs", _DELETE),
    ("outputs", {"prediction": [1]}),
    ("outputs", {"prediction": None, "extra": 1}),
    ("guardian", {"retention": {"class": "legal_hold"}}),
    ("model.name", "bad name!"),
    ("model.name", ""),
    ("model.name", "m" * 129),
    ("model", "credit-risk"),
    ("model", {"name": "m", "version": "1", "x": 1}),
    ("latency_ms", -1),
    ("latency_ms", 0),
    ("latency_ms", "1"),
    ("latency_ms", None),
    ("tenant", None),
    ("tenant", 5),
    ("subject", None),
    ("subject", {}),
    ("subject", {"protected": {"g": [1]}}),
    ("subject", {"protected": {"g": None}}),
    ("subject", {"protected": {"x" * 65: "f"}}),
    ("subject", {"other": 1}),
    ("metadata", None),
    ("metadata", []),
    ("metadata", {"a": {"b": [1, None, {"c": 1.5}]}}),
    ("schema_version", True),
    ("schema_version", 1.0),
    ("schema_version", "1"),
    ("event_id", "a" * 128),
    ("event_id", "a" * 129),
    ("event_id", "-starts-with-dash"),
]


@pytest.mark.parametrize(("path", "value"), _TABLE)
def test_fast_check_agrees_with_the_model_on_the_table(path: str, value: Any) -> None:
    _agree(_edited(path, value))


def test_both_accept_the_valid_events() -> None:
    from load_tests.workload import demo_records

    assert _agree(copy.deepcopy(VALID))
    for _key, raw in demo_records(200, mix=True):
        assert _agree(orjson.loads(raw))


_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "m-1", "3.2.0", "2026-11-30T12:00:00Z", "bad name!", "a" * 129]),
)
_JSON = st.recursive(
    _LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
_PATHS = [
    "schema_version", "event_id", "timestamp", "model", "model.name", "model.version",
    "tenant", "inputs", "inputs.features", "inputs.text", "outputs", "outputs.prediction",
    "outputs.score", "outputs.text", "latency_ms", "subject", "subject.protected",
    "metadata", "extra",
]  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(_PATHS), st.one_of(st.just(_DELETE), _JSON)), max_size=3
    )
)
def test_fast_check_agrees_with_the_model_on_random_edits(edits: list[tuple[str, Any]]) -> None:
    event: Any = copy.deepcopy(VALID)
    for path, value in edits:
        *parents, last = path.split(".")
        node = event
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        if value is _DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    _agree(event)


# --------------------------------------------------------------------------- decode_event
# decode_event checks the schema first and bounds only metadata's depth when the schema
# holds; it must give the reason and detail of the plain sequence (size, JSON, depth,
# version, features, text, schema), here written out as it was before the fast path.


def _reference_decode(raw: bytes, limits: Any) -> dict[str, Any]:
    from service.pipeline import decode

    obj = decode.parse_json(raw, limits)  # size, UTF-8, JSON, object, depth
    decode._check_limits(obj, limits)  # version, features, texts
    try:
        _model.validate_python(obj)
    except ValidationError as exc:
        raise decode.InvalidEvent(decode.describe_schema_error(exc), "invalid_schema") from None
    return obj


def _outcome(decoder: Any, raw: bytes, limits: Any) -> tuple[str, str]:
    from service.errors import InvalidEvent

    try:
        return "ok", repr(decoder(raw, limits))
    except InvalidEvent as exc:
        return exc.dlq_reason or "", exc.detail


def _nest(levels: int) -> Any:
    node: Any = "x"
    for _ in range(levels):
        node = {"k": node}
    return node


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    max_depth=st.integers(2, 8),
    meta_depth=st.integers(0, 9),
    n_features=st.integers(0, 7),
    text=st.integers(0, 120),
    edits=st.lists(
        st.tuples(st.sampled_from(_PATHS), st.one_of(st.just(_DELETE), _JSON)), max_size=2
    ),
)
def test_decode_event_gives_the_reason_of_the_plain_sequence(
    max_depth: int, meta_depth: int, n_features: int, text: int, edits: list[tuple[str, Any]]
) -> None:
    from service.pipeline.decode import decode_event
    from service.settings import LimitSettings

    limits = LimitSettings(max_text_chars=100, max_features=5, max_depth=max_depth)
    event: Any = copy.deepcopy(VALID)
    event["metadata"] = {"m": _nest(meta_depth)}
    event["inputs"]["features"] = {f"f{i}": i for i in range(n_features)}
    event["inputs"]["text"] = "t" * text
    for path, value in edits:
        *parents, last = path.split(".")
        node = event
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            if value is _DELETE:
                node.pop(last, None)
            else:
                node[last] = value
    raw = orjson.dumps(event)
    assert _outcome(decode_event, raw, limits) == _outcome(_reference_decode, raw, limits)
