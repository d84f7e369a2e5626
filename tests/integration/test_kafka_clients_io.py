"""The worker's Kafka I/O helpers against a broker: batch writes and the empty-fetch wait.

``BatchWriter`` must put every record where ``AIOKafkaProducer.send`` would (same
partition, same order within it, same key, value and headers) and refuse a
record ``send`` refuses. ``wait_after_empty_fetch`` must cut a caught-up
consumer's fetches to at most one per backoff without delaying data: a record
produced later still arrives.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.consumer.fetcher import Fetcher
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner

from service.kafka.clients import BatchWriter, MemoPartitioner, wait_after_empty_fetch
from service.pipeline.outputs import OutputRecord

pytestmark = pytest.mark.integration

MAX_REQUEST = 1_048_576


async def _create(bootstrap: str, *topics: str, partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(t, partitions, 1) for t in topics])
    finally:
        await admin.close()


async def _read(bootstrap: str, topic: str, n: int) -> dict[int, list[tuple[Any, ...]]]:
    """Every record of ``topic`` per partition, in offset order: (key, value, headers)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    out: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    try:
        deadline = time.monotonic() + 30
        while sum(map(len, out.values())) < n and time.monotonic() < deadline:
            for tp, messages in (await consumer.getmany(timeout_ms=200)).items():
                out[tp.partition].extend((m.key, m.value, tuple(m.headers)) for m in messages)
    finally:
        await consumer.stop()
    return dict(out)


def _records(topic: str) -> list[OutputRecord]:
    records = []
    for i in range(600):
        key = None if i % 7 == 0 else f"model-{i % 5}".encode()
        value = (f"event-{i}-" + "x" * (i % 97)).encode()
        headers = [("guardian-retention-class", b"standard"), ("n", str(i).encode())]
        partition = 2 if i % 11 == 0 else None
        records.append(OutputRecord(topic, value, key, headers, partition))
    # Larger than one record batch (16 KiB): goes out in a batch of its own.
    records.append(OutputRecord(topic, b"L" * 100_000, b"model-1", []))
    return records


async def test_batch_writer_puts_records_where_send_would(kafka_bootstrap: str) -> None:
    tag = uuid.uuid4().hex[:8]
    by_batch, by_send = f"t{tag}.batch", f"t{tag}.send"
    await _create(kafka_bootstrap, by_batch, by_send)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        enable_idempotence=True,
        acks="all",
        partitioner=MemoPartitioner(),
        max_request_size=MAX_REQUEST,
    )
    await producer.start()
    try:
        futures = await BatchWriter(MemoPartitioner(), MAX_REQUEST).send(
            producer, _records(by_batch)
        )
        await asyncio.gather(*futures)
        sent = [
            await producer.send(
                r.topic, r.value, key=r.key, headers=r.headers, partition=r.partition
            )
            for r in _records(by_send)
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()

    n = len(_records(by_batch))
    got_batch = await _read(kafka_bootstrap, by_batch, n)
    got_send = await _read(kafka_bootstrap, by_send, n)
    assert sum(map(len, got_batch.values())) == n
    # Keyed records: the same partition as send() and DefaultPartitioner, in the same order.
    keyed = {p: [r for r in rs if r[0] is not None] for p, rs in got_batch.items()}
    assert keyed == {p: [r for r in rs if r[0] is not None] for p, rs in got_send.items()}
    default = DefaultPartitioner()
    for partition, rows in keyed.items():
        for key, _, headers in rows:
            pinned = int(dict(headers).get("n", b"1")) % 11 == 0
            assert partition == (2 if pinned else default(key, [0, 1, 2], [0, 1, 2]))
    # Unkeyed ones (random partition) are all there, each with its headers.
    unkeyed = sorted(r for rs in got_batch.values() for r in rs if r[0] is None)
    assert unkeyed == sorted(r for rs in got_send.values() for r in rs if r[0] is None)


async def test_batch_writer_refuses_a_record_over_max_request_size(kafka_bootstrap: str) -> None:
    topic = f"t{uuid.uuid4().hex[:8]}.big"
    await _create(kafka_bootstrap, topic, partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=200_000)
    await producer.start()
    try:
        writer = BatchWriter(MemoPartitioner(), 200_000)
        with pytest.raises(MessageSizeTooLargeError):
            await writer.send(producer, [OutputRecord(topic, b"v" * 200_001, b"k")])
        with pytest.raises(MessageSizeTooLargeError):
            await producer.send(topic, b"v" * 200_001, key=b"k")
    finally:
        await producer.stop()


def test_the_wrapped_fetcher_method_exists() -> None:
    # wait_after_empty_fetch wraps this private method of the pinned aiokafka.
    assert callable(getattr(Fetcher, "_proc_fetch_request", None))


async def _count_fetches(bootstrap: str, topic: str, backoff_ms: int, seconds: float) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    calls = 0
    fetch = consumer._fetcher._proc_fetch_request

    async def counting(*args: Any) -> bool:
        nonlocal calls
        calls += 1
        got: bool = await fetch(*args)
        return got

    consumer._fetcher._proc_fetch_request = counting
    wait_after_empty_fetch(consumer, backoff_ms)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_end(tp)
        await asyncio.sleep(0.3)  # settle the first position lookups
        before = calls
        await asyncio.sleep(seconds)
        fetches = calls - before
        # A record produced now still arrives.
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"late", partition=0)
        finally:
            await producer.stop()
        got = await consumer.getmany(tp, timeout_ms=5000)
        assert [m.value for m in got.get(tp, [])] == [b"late"]
    finally:
        await consumer.stop()
    return fetches


async def test_empty_fetches_wait_for_the_backoff(kafka_bootstrap: str) -> None:
    topic = f"t{uuid.uuid4().hex[:8]}.idle"
    await _create(kafka_bootstrap, topic, partitions=1)
    fetches = await _count_fetches(kafka_bootstrap, topic, backoff_ms=50, seconds=1.0)
    # At most one fetch per 50 ms (plus the round trips); without the wait a broker that
    # answers at once gets thousands.
    assert 1 <= fetches <= 25


async def test_a_consumer_waiting_after_an_empty_fetch_stops_cleanly(kafka_bootstrap: str) -> None:
    topic = f"t{uuid.uuid4().hex[:8]}.stop"
    await _create(kafka_bootstrap, topic, partitions=1)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None)
    await consumer.start()
    wait_after_empty_fetch(consumer, 10_000)  # every close lands inside the wait
    consumer.assign([TopicPartition(topic, 0)])
    await asyncio.sleep(0.3)
    await asyncio.wait_for(consumer.stop(), timeout=5)
