"""No poison batch stalls a partition (``kafka.on_undecodable``).

A publisher writes a snappy batch between two plain ones; this Guardian cannot
decode snappy (the codec is made unavailable in the process, as it was before
the codec libraries were installed). With ``skip`` the batch's offset range
goes to the DLQ without payload and the records after it are processed; with
``stop`` the partition stops, readiness says why, and an alert names the range.
"""

from __future__ import annotations

import asyncio
import shutil
import struct
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition, codec
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.record.util import calc_crc32c

from tests.integration.test_producers_codecs import demo_events, event_ids, kcat_publish
from tests.kafka_helpers import drain, make_settings, sanitized_topics

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat missing (make tools)"),
]


async def _until(condition: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.1)


def _publish_plain_snappy_plain(
    bootstrap: str, topic: str, tmp: Path
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    before, poisoned, after = demo_events(10, 31), demo_events(5, 32), demo_events(10, 33)
    kcat_publish(bootstrap, topic, before, tmp, "-p", "0")
    kcat_publish(bootstrap, topic, poisoned, tmp, "-p", "0", "-z", "snappy")
    kcat_publish(bootstrap, topic, after, tmp, "-p", "0")
    return before, poisoned, after


async def test_skip_dead_letters_the_range_and_processes_the_records_after_it(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, guardian_factory, tmp_path: Path, monkeypatch
) -> None:
    settings = make_settings(kafka_bootstrap)
    assert settings.kafka.on_undecodable == "skip"
    monkeypatch.setattr(codec, "has_snappy", lambda: False)
    guardian = await guardian_factory(settings)
    topic = settings.kafka.topics.events
    before, poisoned, after = _publish_plain_snappy_plain(kafka_bootstrap, topic, tmp_path)

    out = await drain(kafka_bootstrap, sanitized_topics(settings), expect=20)
    assert event_ids([m.value for m in out]) == event_ids(before + after)

    dlq = await drain(kafka_bootstrap, settings.kafka.topics.dlq, expect=1)
    skipped: set[int] = set()
    for m in dlq:
        body = orjson.loads(m.value)
        assert body["reason"] == "undecodable_batch"
        assert body["payload"] is None
        assert "snappy" in body["detail"]
        source = body["source"]
        assert (source["topic"], source["partition"]) == (topic, 0)
        skipped |= set(range(source["offset"], source["last_offset"] + 1))
        headers = dict(m.headers)
        assert headers["guardian-error"].startswith(b"undecodable_batch: ")
        assert int(headers["guardian-first-offset"]) == source["offset"]
        assert int(headers["guardian-last-offset"]) == source["last_offset"]
    assert skipped == set(range(10, 15)), "exactly the snappy records' offsets"

    registry = guardian.metrics.registry
    assert registry.get_sample_value(
        "guardian_undecodable_batches_total", {"topic": topic, "action": "skipped"}
    ) == len(dlq)
    assert registry.get_sample_value("guardian_events_consumed_total") == 20
    alerts = [a for a in guardian.alerts.list_alerts() if a.alertname == "GuardianUndecodableBatch"]
    assert len(alerts) == 1
    assert alerts[0].labels["topic"] == topic and alerts[0].labels["partition"] == "0"
    assert "offsets 10..14" in alerts[0].annotations["description"]
    # committed past the range: a restart would not meet it again
    await _until(lambda: guardian.worker.committed.get(TopicPartition(topic, 0)) == 25)
    assert guardian.worker.ready


async def test_stop_fails_readiness_with_the_reason_and_alerts(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, guardian_factory, tmp_path: Path, monkeypatch
) -> None:
    settings = make_settings(
        kafka_bootstrap, kafka={"on_undecodable": "stop", "undecodable_retries": 1}
    )
    monkeypatch.setattr(codec, "has_snappy", lambda: False)
    guardian = await guardian_factory(settings)
    topic = settings.kafka.topics.events
    before, _poisoned, _after = _publish_plain_snappy_plain(kafka_bootstrap, topic, tmp_path)

    out = await drain(kafka_bootstrap, sanitized_topics(settings), expect=10)
    assert event_ids([m.value for m in out]) == event_ids(before)
    await _until(lambda: bool(guardian.worker.status["stopped_partitions"]))

    transport = httpx.ASGITransport(app=guardian.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://guardian") as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    [reason] = response.json()["stopped_partitions"]
    assert f"{topic}[0]@10..14" in reason and "snappy" in reason

    registry = guardian.metrics.registry
    assert (
        registry.get_sample_value(
            "guardian_undecodable_batches_total", {"topic": topic, "action": "stopped"}
        )
        == 1
    )
    alerts = guardian.alerts.list_alerts()
    [alert] = [a for a in alerts if a.alertname == "GuardianUndecodableBatch"]
    assert "partition stopped" in alert.annotations["description"]
    assert await drain(kafka_bootstrap, settings.kafka.topics.dlq, idle_s=1.0) == []
    assert guardian.worker.committed.get(TopicPartition(topic, 0)) == 10


def _batch_with_unknown_codec(values: list[bytes]) -> bytes:
    """A record batch whose attributes name codec 5, which Kafka does not define."""
    builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, 0, 1_000_000)
    for i, value in enumerate(values):
        builder.append(i, timestamp=None, key=b"m", value=value, headers=[])
    data = bytearray(builder.build())
    # v2 batch header: base offset q, length i, leader epoch i, magic b, crc I, attributes h
    attributes_at, crc_at = struct.calcsize(">qiibI"), struct.calcsize(">qiib")
    attributes = struct.unpack_from(">h", data, attributes_at)[0]
    struct.pack_into(">h", data, attributes_at, (attributes & ~0x07) | 0x05)
    struct.pack_into(">I", data, crc_at, calc_crc32c(data[attributes_at:]))
    return bytes(data)


@pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
async def test_a_batch_with_an_unknown_codec_on_the_broker_is_skipped(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, guardian_factory, delivery: str
) -> None:
    """No monkeypatching of the consumer: the poison batch is what the broker stores."""
    settings = make_settings(kafka_bootstrap, kafka={"delivery": delivery})
    guardian = await guardian_factory(settings)
    topic = settings.kafka.topics.events
    before, poisoned, after = demo_events(5, 34), demo_events(3, 35), demo_events(5, 36)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for values, crafted in ((before, False), (poisoned, True), (after, False)):
            batch = producer.create_batch()
            for v in values:
                batch.append(timestamp=None, key=b"m", value=v)
            if crafted:
                batch._buffer = _batch_with_unknown_codec(values)  # sent as these bytes
            await (await producer.send_batch(batch, topic, partition=0))
    finally:
        await producer.stop()

    out = await drain(kafka_bootstrap, sanitized_topics(settings), expect=10)
    assert event_ids([m.value for m in out]) == event_ids(before + after)
    [dead] = await drain(kafka_bootstrap, settings.kafka.topics.dlq, expect=1)
    body = orjson.loads(dead.value)
    assert body["reason"] == "undecodable_batch" and "0x05" in body["detail"]
    assert (body["source"]["offset"], body["source"]["last_offset"]) == (5, 7)
    assert (
        guardian.metrics.registry.get_sample_value(
            "guardian_undecodable_batches_total", {"topic": topic, "action": "skipped"}
        )
        == 1
    )
    # the skipped range is committed (in exactly-once mode, with the transaction)
    await _until(lambda: guardian.worker.committed.get(TopicPartition(topic, 0)) == 13)
    assert await guardian.worker.committed_offset(TopicPartition(topic, 0)) == 13
