"""kafka.forward_headers: input headers dropped unless allow-listed, then scanned like metadata."""

from __future__ import annotations

import copy

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from service.pipeline.context import EventContext
from service.pipeline.forwarded_headers import allowed, apply, scan_requests
from service.redaction.redactor import RedactionOutcome
from service.settings import GuardianSettings
from tests.integration.test_unknown_fields import EVENT
from tests.kafka_helpers import drain, make_settings, sanitized_topics

HEADERS = [
    ("x-trace-id", b"trace-7f3a"),
    ("x-user", b"contact alice.jones@example.com please"),
    ("authorization", b"Bearer ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("x-blob", b"\xff\xfe\x00binary"),
    ("x-flag", None),
]


def test_only_allow_listed_names_first_occurrence() -> None:
    names = frozenset({"x-trace-id", "x-flag"})
    dup = [*HEADERS, ("x-trace-id", b"second")]
    assert allowed(dup, names) == (("x-trace-id", b"trace-7f3a"), ("x-flag", None))


def test_a_failed_analysis_forwards_no_scanned_value() -> None:
    ctx = EventContext("t", 0, 0, b"{}", event={"guardian": {}})
    ctx.input_headers = (("x-user", b"alice@example.com"), ("x-flag", None))
    [(requested, synthetic)] = scan_requests([ctx])
    assert requested is ctx and synthetic == {"metadata": {"x-user": "alice@example.com"}}
    apply(ctx, RedactionOutcome({}, [], frozenset(), failed=True, reason="analysis failed"))
    assert ctx.headers == [("x-flag", None)]


@pytest.mark.parametrize("bad", [["guardian-pii"], ["GUARDIAN-retention-class"], [""]])
def test_guardian_headers_and_empty_names_cannot_be_forwarded(bad: list[str]) -> None:
    with pytest.raises(ValidationError):
        GuardianSettings.load(None, kafka={"forward_headers": bad})


async def _publish(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await (
            await producer.send(
                topic, orjson.dumps(copy.deepcopy(EVENT)), key=b"credit-risk", headers=HEADERS
            )
        )
    finally:
        await producer.stop()


@pytest.mark.integration
async def test_input_headers_are_dropped_by_default(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, guardian_factory
) -> None:
    settings = make_settings(kafka_bootstrap)
    await guardian_factory(settings)
    await _publish(kafka_bootstrap, settings.kafka.topics.events)
    [out] = await drain(kafka_bootstrap, sanitized_topics(settings), expect=1)
    names = {name for name, _ in out.headers}
    assert names and all(name.startswith("guardian-") for name in names)


@pytest.mark.integration
async def test_allow_listed_headers_are_forwarded_scanned(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, guardian_factory
) -> None:
    forward = ["x-trace-id", "x-user", "x-blob", "x-flag", "x-absent"]
    settings = make_settings(kafka_bootstrap, kafka={"forward_headers": forward})
    await guardian_factory(settings)
    await _publish(kafka_bootstrap, settings.kafka.topics.events)
    [out] = await drain(kafka_bootstrap, sanitized_topics(settings), expect=1)
    headers = dict(out.headers)
    assert headers["x-trace-id"] == b"trace-7f3a"
    assert b"alice.jones" not in headers["x-user"] and headers["x-user"].startswith(b"contact ")
    assert headers["x-flag"] is None
    assert "authorization" not in headers  # not allow-listed
    assert "x-blob" not in headers  # not text: cannot be scanned, never forwarded
    assert b"EMAIL_ADDRESS" in headers["guardian-pii"]
    redactions = orjson.loads(out.value)["guardian"]["redactions"]
    assert {"path": "headers.x-user", "entity": "EMAIL_ADDRESS"}.items() <= redactions[0].items()
