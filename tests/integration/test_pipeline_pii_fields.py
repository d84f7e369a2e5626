"""Through Kafka: identifiers that look like PII go to the DLQ, and no submitted PII value or
key reaches a sanitized topic, a DLQ record, its headers or key, or ``/metrics``."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import generate_latest

from tests.kafka_helpers import drain, make_settings, sanitized_topics

pytestmark = pytest.mark.integration

PHONE = "212-555-0143"
CARD = "4111-1111-1111-1111"
IP = "10.20.30.40"
IBAN = "DE89370400440532013000"
EMAIL = "jane.roe@example.org"
KEY_EMAIL = "leak.key@example.com"
CARD_INT = 4539578763621486  # Luhn-valid


def event(i: int, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema_version": 1,
        "event_id": f"e-{i}",
        "timestamp": "2026-11-30T12:00:00Z",
        "model": {"name": "credit-risk", "version": "3.2.0"},
        "tenant": "acme",
        "inputs": {"features": {"age": 41, "country": "DE"}},
        "outputs": {"prediction": 1, "score": 0.5},
    }
    for key, value in changes.items():
        if key in ("name", "version"):
            base["model"][key] = value
        else:
            base[key] = value
    return base


#: (message, Kafka key, expected DLQ reason or None for a sanitized output)
CASES: list[tuple[dict[str, Any], bytes, str | None]] = [
    (event(1, name=PHONE), PHONE.encode(), "pii_in_identifier"),
    (event(2, event_id=CARD), b"credit-risk", "pii_in_identifier"),
    (event(3, tenant=IP), b"credit-risk", "pii_in_identifier"),
    (event(4, version=IBAN), b"credit-risk", "pii_in_identifier"),
    # Validation failures whose bad key or value is PII: pydantic's location names the key.
    (event(5, inputs={"features": {KEY_EMAIL: [1, 2]}}), b"credit-risk", "invalid_schema"),
    (event(6, tenant=EMAIL), EMAIL.encode(), "invalid_schema"),
    (event(7, subject={"protected": {IBAN: {"x": 1}}}), b"credit-risk", "invalid_schema"),
    # Valid: PII in a feature key, the prediction, a protected value, a long number, metadata.
    (
        event(
            8,
            inputs={"features": {KEY_EMAIL: 1.5, "age": 41, "account": CARD_INT}},
            outputs={"prediction": f"call {PHONE}", "score": 0.5},
            subject={"protected": {"gender": EMAIL}},
            metadata={"notes": [f"iban {IBAN}"], IP: {"k": "v"}},
        ),
        b"credit-risk",
        None,
    ),
]
SUBMITTED = [PHONE, CARD, IP, IBAN, EMAIL, KEY_EMAIL, str(CARD_INT)]


async def test_pii_in_any_field_or_identifier_never_leaves(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, guardian_factory
) -> None:
    settings = make_settings(kafka_bootstrap, redaction={"workers": 0})
    guardian = await guardian_factory(settings)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for message, key, _reason in CASES:
            await producer.send_and_wait(
                settings.kafka.topics.events, orjson.dumps(message), key=key
            )
    finally:
        await producer.stop()
    expected_dlq = sorted(r for _, _, r in CASES if r is not None)
    dlq = await drain(kafka_bootstrap, settings.kafka.topics.dlq, expect=len(expected_dlq))
    out = await drain(kafka_bootstrap, sanitized_topics(settings), expect=1)

    assert sorted(orjson.loads(m.value)["reason"] for m in dlq) == expected_dlq
    assert len(out) == 1
    sanitized = orjson.loads(out[0].value)
    assert "<EMAIL_ADDRESS>" in sanitized["inputs"]["features"]
    assert sanitized["inputs"]["features"]["account"] == "<CREDIT_CARD>"
    for m in dlq:
        body = orjson.loads(m.value)
        if body["reason"] == "pii_in_identifier":
            assert " looks like " in body["detail"]
        if body["detail"].startswith("inputs.features"):
            assert "<key>" in body["detail"]  # the location of the bad key, masked
    seen = [m.value for m in (*dlq, *out)]
    seen += [m.key or b"" for m in (*dlq, *out)]
    seen += [value for m in (*dlq, *out) for _name, value in m.headers]
    metrics = generate_latest(guardian.metrics.registry)
    for value in SUBMITTED:
        for blob in (*seen, metrics):
            assert value.encode() not in blob, (value, blob[:300])
    rejected = guardian.metrics.registry.get_sample_value(
        "guardian_events_rejected_total", {"reason": "pii_in_identifier"}
    )
    assert rejected == 4
