"""Tombstones and empty records go to the DLQ with their reason; the records after them go on."""

from __future__ import annotations

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from service.errors import InvalidEvent
from service.pipeline.decode import decode_event, decode_label
from service.settings import LimitSettings
from tests.integration.test_producers_codecs import demo_events, event_ids
from tests.kafka_helpers import drain, make_settings, sanitized_topics


@pytest.mark.parametrize("decode", [decode_event, decode_label])
def test_empty_value_has_its_own_reason(decode) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidEvent) as caught:
        decode(b"", LimitSettings())
    assert caught.value.dlq_reason == "empty_value"


@pytest.mark.integration
async def test_tombstones_and_empty_records_are_dead_lettered_and_never_stall(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, guardian_factory
) -> None:
    settings = make_settings(kafka_bootstrap)
    guardian = await guardian_factory(settings)
    good = demo_events(12, seed=51)
    # one partition (a fixed key), the bad records between good ones; a null-keyed tombstone too
    sequence: list[tuple[bytes | None, bytes | None]] = [
        *[(b"m", v) for v in good[:4]],
        (b"m", None),  # tombstone
        *[(b"m", v) for v in good[4:8]],
        (b"m", b""),  # empty value
        (None, None),  # tombstone without a key
        *[(b"m", v) for v in good[8:]],
    ]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        # One batch on partition 0 (send() refuses a record with neither key nor value).
        batch = producer.create_batch()
        for key, value in sequence:
            assert batch.append(timestamp=None, key=key, value=value) is not None
        await (await producer.send_batch(batch, settings.kafka.topics.events, partition=0))
        # a tombstone on the labels topic as well
        await (await producer.send(settings.kafka.topics.labels, None, key=b"e-1"))
    finally:
        await producer.stop()

    out = await drain(kafka_bootstrap, sanitized_topics(settings), expect=len(good))
    assert event_ids([m.value for m in out]) == event_ids(good)
    dlq = await drain(kafka_bootstrap, settings.kafka.topics.dlq, expect=4)
    assert sorted(orjson.loads(m.value)["reason"] for m in dlq) == ["empty_value"] * 4
    for m in dlq:
        assert dict(m.headers)["guardian-error"].startswith(b"empty_value: ")
    assert (
        guardian.metrics.registry.get_sample_value(
            "guardian_events_rejected_total", {"reason": "empty_value"}
        )
        == 4
    )
