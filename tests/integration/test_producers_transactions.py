"""Transactional publishers: aborted events reach no output and no detector, either delivery."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from tests.integration.test_producers_codecs import demo_events, event_ids
from tests.kafka_helpers import drain, make_settings, sanitized_topics

pytestmark = pytest.mark.integration


async def publish_in_transaction(
    bootstrap: str, topic: str, values: list[bytes], *, commit: bool
) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, transactional_id=f"publisher-{uuid.uuid4().hex[:8]}"
    )
    await producer.start()
    try:
        await producer.begin_transaction()
        futures = [await producer.send(topic, v, key=b"credit-risk") for v in values]
        await asyncio.gather(*futures)  # written to the log, visible to read_uncommitted
        if commit:
            await producer.commit_transaction()
        else:
            await producer.abort_transaction()
    finally:
        await producer.stop()


@pytest.mark.parametrize("delivery", ["at_least_once", "exactly_once"])
async def test_aborted_transaction_is_never_processed(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, guardian_factory, delivery: str
) -> None:
    settings = make_settings(kafka_bootstrap, kafka={"delivery": delivery})
    assert settings.kafka.isolation_level == "read_committed"
    guardian = await guardian_factory(settings)
    topic = settings.kafka.topics.events
    aborted, committed = demo_events(15, seed=41), demo_events(12, seed=42)
    await publish_in_transaction(kafka_bootstrap, topic, aborted, commit=False)
    await publish_in_transaction(kafka_bootstrap, topic, committed, commit=True)

    # the aborted records are in the log: a read_uncommitted reader sees them
    raw = await drain(kafka_bootstrap, topic, expect=len(aborted) + len(committed))
    assert len(raw) == len(aborted) + len(committed)

    out = await drain(
        kafka_bootstrap, sanitized_topics(settings), expect=len(committed), idle_s=2.0
    )
    assert event_ids([m.value for m in out]) == event_ids(committed)
    assert await drain(kafka_bootstrap, settings.kafka.topics.dlq, idle_s=1.0) == []
    registry = guardian.metrics.registry
    # consumed = seen by any stage, the detectors included
    assert registry.get_sample_value("guardian_events_consumed_total") == len(committed)
