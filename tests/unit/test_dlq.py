"""DLQ records keep the reason and envelope, never the personal values or keys."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.pipeline.dlq import dead_letter
from service.redaction.scrub import scrub_detail
from service.redaction.scrub import scrub_payload as scrub

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(min_size=3),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _values(obj: object) -> list[object]:
    """Every leaf value (not keys: keys are structure, kept when they look like identifiers)."""
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _values(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _values(v)]
    return [obj]


def test_scrub_keeps_envelope_replaces_text() -> None:
    event = {
        "schema_version": 1,
        "event_id": "e-1",
        "model": {"name": "credit-risk", "version": "3"},
        "inputs": {"text": "mail me at alice@example.com", "features": {"ssn": "078-05-1120"}},
        "metadata": {"alice@example.com": "x"},
    }
    out = scrub(event)
    dumped = orjson.dumps(out).decode()
    assert "alice@example.com" not in dumped and "078-05-1120" not in dumped
    assert out["event_id"] == "e-1" and out["model"] == {"name": "credit-risk", "version": "3"}
    assert out["inputs"]["text"] == "<str:28>"


@given(payload=json_values, secret=st.from_regex(r"[a-z]{4,8}@[a-z]{3,6}\.com", fullmatch=True))
def test_no_string_value_survives_scrubbing(payload: object, secret: str) -> None:
    event = {"inputs": {"text": secret}, "metadata": {"blob": payload}}
    record = orjson.loads(
        dead_letter(
            reason="invalid_schema",
            detail="x",
            topic="t",
            partition=0,
            offset=1,
            raw=b"",
            parsed=event,
            key=None,
        ).value
    )
    out_values = _values(record["payload"])
    # every string or number leaf became a type tag; only null and booleans pass through
    assert all(v is None or isinstance(v, bool) or str(v).startswith("<") for v in out_values)
    assert secret not in orjson.dumps(record).decode()


def test_unparseable_payload_is_only_its_size() -> None:
    record = orjson.loads(
        dead_letter(
            reason="not_json",
            detail="message is not valid JSON",
            topic="t",
            partition=2,
            offset=9,
            raw=b"call me on +1 415 555 0132",
            parsed=None,
            key=None,
        ).value
    )
    assert record["payload"] == "<redacted:26 bytes>"
    assert record["source"] == {"topic": "t", "partition": 2, "offset": 9}


PII = {
    "email": "alice.b@example.com",
    "phone": "212-555-0143",
    "card": "4111111111111111",
    "ssn": "219-09-9999",
    "ip": "192.168.17.42",
    "iban": "DE89370400440532013000",
}


def test_pii_shaped_keys_become_numbered_and_plain_keys_stay() -> None:
    event = {
        "event_id": "e-1",
        "inputs": {"features": {PII["email"]: 1, "age": 41, PII["card"]: 2}},
        "metadata": {"outer": {PII["iban"]: {PII["ip"]: [PII["phone"]]}}, PII["ssn"]: None},
    }
    out = scrub(event)
    dumped = orjson.dumps(out).decode()
    for value in PII.values():
        assert value not in dumped
    assert out["inputs"]["features"] == {"<key:0>": "<int>", "age": "<int>", "<key:2>": "<int>"}
    assert out["metadata"] == {
        "outer": {"<key:0>": {"<key:0>": ["<str:12>"]}},
        "<key:1>": None,
    }


def test_identifiers_that_look_like_pii_are_not_kept() -> None:
    event = {
        "schema_version": 1,
        "event_id": PII["card"],
        "tenant": PII["ip"],
        "model": {"name": PII["phone"], "version": "1.2"},
    }
    out = scrub(event)
    assert out["event_id"] == "<str:16>" and out["tenant"] == "<str:13>"
    assert out["model"] == {"name": "<str:12>", "version": "1.2"}
    assert out["schema_version"] == 1


@pytest.mark.parametrize("name", sorted(PII))
def test_detail_and_header_never_repeat_submitted_keys_or_values(name: str) -> None:
    value = PII[name]
    parsed = {"inputs": {"features": {value: 1}}, "metadata": {"k": f"x {value}"}}
    # A detail that echoes what it was given (a validator message, a library error).
    detail = f"inputs.features.{value}: bad key; metadata.k: 'x {value}' is not allowed"
    letter = dead_letter(
        reason="invalid_schema",
        detail=detail,
        topic="t",
        partition=0,
        offset=1,
        raw=orjson.dumps(parsed),
        parsed=parsed,
        key=value.encode(),
    )
    assert value.encode() not in letter.value and value.encode() not in letter.error
    assert letter.key is None  # a key that is not a safe identifier is not copied
    assert letter.error.startswith(b"invalid_schema: inputs.features.")
    # Without the parsed event (e.g. not JSON) the PII shapes are still masked.
    assert value not in scrub_detail(detail)


def test_safe_kafka_key_is_kept() -> None:
    letter = dead_letter(
        reason="x",
        detail="d",
        topic="t",
        partition=0,
        offset=1,
        raw=b"",
        parsed=None,
        key=b"credit-risk",
    )
    assert letter.key == b"credit-risk" and letter.error == b"x: d"


def test_deep_nesting_does_not_recurse_without_bound() -> None:
    node: dict[str, object] = {}
    event = {"metadata": node}
    for _ in range(900):
        node["k"] = {}
        node = node["k"]  # type: ignore[assignment]
    out = scrub(event)
    assert "<nested>" in orjson.dumps(out).decode()
