"""DLQ records keep the reason and envelope, never the personal values."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from service.pipeline.dlq import dlq_record, scrub

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(min_size=3),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=4),
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
        dlq_record(
            reason="invalid_schema",
            detail="x",
            topic="t",
            partition=0,
            offset=1,
            raw=b"",
            parsed=event,
        )
    )
    out_values = _values(record["payload"])
    # every string or number leaf became a type tag; only null and booleans pass through
    assert all(v is None or isinstance(v, bool) or str(v).startswith("<") for v in out_values)
    assert secret not in orjson.dumps(record).decode()


def test_unparseable_payload_is_only_its_size() -> None:
    record = orjson.loads(
        dlq_record(
            reason="not_json",
            detail="message is not valid JSON",
            topic="t",
            partition=2,
            offset=9,
            raw=b"call me on +1 415 555 0132",
            parsed=None,
        )
    )
    assert record["payload"] == "<redacted:26 bytes>"
    assert record["source"] == {"topic": "t", "partition": 2, "offset": 9}
