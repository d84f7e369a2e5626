"""Lag, input rate and stalls from the broker's view (service/kafka/group_offsets.py).

The unit tests script the broker's answers; the integration tests ask the session's
broker (noida-db, or GUARDIAN_TEST_BOOTSTRAP) for end offsets (ListOffsets),
committed offsets (OffsetFetch) and the record at a committed offset (Fetch).
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError
from prometheus_client import CollectorRegistry

from service.kafka.group_offsets import (
    GroupOffsetMetrics,
    GroupOffsetsMonitor,
    PartitionReading,
    watch_group_offsets,
)
from service.settings import KafkaSettings, TopicSettings

TP = TopicPartition("in", 0)


class Scripted(GroupOffsetsMonitor):
    """The monitor with the broker's answers given by the test."""

    def __init__(self, registry: CollectorRegistry, clock: list[float]) -> None:
        super().__init__(KafkaSettings(), ["in"], GroupOffsetMetrics(registry), lambda: clock[0])
        self.readings: dict[TopicPartition, PartitionReading] = {}
        self.timestamps: dict[TopicPartition, float] = {}
        self.asked: list[dict[TopicPartition, int]] = []

    async def read_offsets(self) -> dict[TopicPartition, PartitionReading]:
        return dict(self.readings)

    async def record_timestamps(
        self, offsets: dict[TopicPartition, int]
    ) -> dict[TopicPartition, float]:
        self.asked.append(dict(offsets))
        return {tp: ts for tp, ts in self.timestamps.items() if tp in offsets}


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_lag_in_messages_and_seconds_from_the_record_at_the_committed_offset() -> None:
    registry, clock = CollectorRegistry(), [1000.0]
    monitor = Scripted(registry, clock)
    monitor.readings = {TP: PartitionReading(end=50, committed=20)}
    monitor.timestamps = {TP: 940.0}
    await monitor.poll_once()
    assert monitor.asked == [{TP: 20}]  # the oldest unprocessed record
    assert sample(registry, "guardian_group_lag_messages", topic="in", partition="0") == 30
    assert sample(registry, "guardian_group_lag_seconds", topic="in", partition="0") == 60
    assert sample(registry, "guardian_group_offsets_up") == 1


async def test_input_and_committed_counters_grow_with_the_offsets_from_the_first_reading() -> None:
    registry, clock = CollectorRegistry(), [0.0]
    monitor = Scripted(registry, clock)
    monitor.readings = {TP: PartitionReading(end=100, committed=100)}
    await monitor.poll_once()
    # counted from this replica's first reading: the history before it is not input rate
    assert sample(registry, "guardian_input_messages_total", topic="in") == 0
    assert sample(registry, "guardian_group_committed_messages_total", topic="in") == 0
    monitor.readings = {TP: PartitionReading(end=160, committed=130)}
    await monitor.poll_once()
    monitor.readings = {TP: PartitionReading(end=200, committed=130)}  # stalled commits
    await monitor.poll_once()
    assert sample(registry, "guardian_input_messages_total", topic="in") == 100
    assert sample(registry, "guardian_group_committed_messages_total", topic="in") == 30
    assert sample(registry, "guardian_group_lag_messages", topic="in", partition="0") == 70


async def test_without_the_record_the_age_counts_from_when_the_lag_was_first_seen() -> None:
    registry, clock = CollectorRegistry(), [500.0]
    monitor = Scripted(registry, clock)
    monitor.readings = {TP: PartitionReading(end=10, committed=4)}  # record at 4 unreadable
    await monitor.poll_once()
    assert sample(registry, "guardian_group_lag_seconds", topic="in", partition="0") == 0
    clock[0] = 530.0
    await monitor.poll_once()
    assert sample(registry, "guardian_group_lag_seconds", topic="in", partition="0") == 30
    monitor.readings = {TP: PartitionReading(end=10, committed=7)}  # progress: a new start
    clock[0] = 540.0
    await monitor.poll_once()
    assert sample(registry, "guardian_group_lag_seconds", topic="in", partition="0") == 0
    monitor.readings = {TP: PartitionReading(end=10, committed=10)}
    await monitor.poll_once()
    assert sample(registry, "guardian_group_lag_seconds", topic="in", partition="0") == 0
    assert monitor.asked[-1] == {}  # no fetch without lag


async def test_before_the_first_commit_lag_counts_from_the_log_start() -> None:
    registry = CollectorRegistry()
    monitor = Scripted(registry, [0.0])
    monitor.readings = {TP: PartitionReading(end=30, committed=None, start=10)}
    await monitor.poll_once()
    assert sample(registry, "guardian_group_lag_messages", topic="in", partition="0") == 20
    assert monitor.asked == [{TP: 10}]


async def test_interval_zero_turns_the_monitor_off() -> None:
    registry = CollectorRegistry()
    kafka = KafkaSettings(group_offsets_interval_s=0)
    await asyncio.wait_for(watch_group_offsets(kafka, registry, asyncio.Event()), 1)
    assert sample(registry, "guardian_group_offsets_up") is None


async def test_a_failed_reading_sets_up_to_0_and_stop_cancels_a_hung_one() -> None:
    registry = CollectorRegistry()
    calls: list[str] = []
    hang = asyncio.Event()

    class Flaky(Scripted):
        async def read_offsets(self) -> dict[TopicPartition, PartitionReading]:
            calls.append("read")
            if len(calls) == 1:
                raise KafkaConnectionError()
            hang.set()
            await asyncio.Event().wait()  # a broker that never answers
            return {}

    stop = asyncio.Event()
    task = asyncio.create_task(Flaky(registry, [0.0]).run(0.01, stop))
    await asyncio.wait_for(hang.wait(), 5)
    assert sample(registry, "guardian_group_offsets_up") == 0
    stop.set()
    await asyncio.wait_for(task, 5)  # returns at once: the hung reading is cancelled
    assert calls == ["read", "read"]


# ------------------------------------------------------------------ on the broker


async def make_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


@pytest.mark.integration
async def test_the_broker_answers_list_offsets_offset_fetch_and_the_record_fetch(
    kafka_bootstrap: str,
) -> None:
    tag = uuid.uuid4().hex[:10]
    events, labels, group = f"t{tag}.events", f"t{tag}.labels", f"g{tag}"
    await make_topic(kafka_bootstrap, events, 2)
    await make_topic(kafka_bootstrap, labels, 1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    written = time.time()
    try:
        for i in range(10):
            await producer.send_and_wait(events, b"x", partition=i % 2)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign([TopicPartition(events, 0)])
            await consumer.commit({TopicPartition(events, 0): 3})
        finally:
            await consumer.stop()
        kafka = KafkaSettings(
            bootstrap_servers=kafka_bootstrap,
            group_id=group,
            topics=TopicSettings(events=events, labels=labels),
        )
        registry = CollectorRegistry()
        later = [time.time() + 100]
        monitor = GroupOffsetsMonitor(
            kafka, [events, labels], GroupOffsetMetrics(registry), lambda: later[0]
        )
        await monitor.start()
        try:
            readings = await monitor.poll_once()
            assert readings[TopicPartition(events, 0)] == PartitionReading(5, 3, 0)
            assert readings[TopicPartition(events, 1)] == PartitionReading(5, None, 0)
            assert readings[TopicPartition(labels, 0)].lag == 0
            for _ in range(4):
                await producer.send_and_wait(events, b"y", partition=0)
            await monitor.poll_once()
        finally:
            await monitor.close()
    finally:
        await producer.stop()
    assert sample(registry, "guardian_group_lag_messages", topic=events, partition="0") == 6
    assert sample(registry, "guardian_input_messages_total", topic=events) == 4
    age = sample(registry, "guardian_group_lag_seconds", topic=events, partition="0")
    # The record's own timestamp, not the monitor's first sighting (which would give 0).
    assert age is not None and 100 <= age <= later[0] - written
