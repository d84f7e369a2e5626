"""aiokafka client options derived from settings, in one place."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Protocol

# Re-exported for the control store, which waits after empty fetches too.
from service.kafka.aiokafka_compat import wait_after_empty_fetch as wait_after_empty_fetch
from service.settings import KafkaSettings


def common_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Options every aiokafka client of Guardian shares (brokers, security)."""
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "security_protocol": kafka.security_protocol,
        "request_timeout_ms": kafka.request_timeout_ms,
    }
    if kafka.sasl_mechanism:
        options["sasl_mechanism"] = kafka.sasl_mechanism
        options["sasl_plain_username"] = kafka.sasl_username
        if kafka.sasl_password is not None:
            options["sasl_plain_password"] = kafka.sasl_password.get_secret_value()
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        from aiokafka.helpers import create_ssl_context

        options["ssl_context"] = create_ssl_context()
    return options


#: With the empty-fetch wait on, a consumer that follows a quiet topic (config, membership)
#: waits at least this long: 100 ms more on a config change or heartbeat is nothing, and each
#: such consumer at the pipeline's 5 ms would cost an idle replica about 2% of a core.
FOLLOWER_MIN_BACKOFF_MS = 100


def follow_quietly(consumer: Any, kafka: KafkaSettings) -> None:
    """:func:`wait_after_empty_fetch` for a consumer of a quiet topic (no-op when it is off)."""
    backoff = kafka.empty_fetch_backoff_ms
    wait_after_empty_fetch(consumer, max(backoff, FOLLOWER_MIN_BACKOFF_MS) if backoff else 0)


def output_codec(kafka: KafkaSettings) -> str | None:
    """aiokafka's ``compression_type`` for Guardian's producers (``None``: uncompressed).

    :class:`BatchWriter` fills the producer's own batch builders, so the batches
    it writes carry this codec too.
    """
    return None if kafka.compression_type == "none" else kafka.compression_type


class MemoPartitioner:
    """aiokafka's default partitioner with the partition of each key remembered.

    aiokafka hashes every key with a pure-Python murmur2 (about 1.6 us); Guardian's
    output keys are model names, a handful of values. The partition is the one
    :class:`aiokafka.partitioner.DefaultPartitioner` gives (it is asked on a miss,
    and the answer depends only on the key and the topic's partition list); a
    ``None`` key still goes to a random available partition.

    Examples
    --------
    >>> from aiokafka.partitioner import DefaultPartitioner
    >>> MemoPartitioner()(b"credit-risk", [0, 1, 2], [0, 1, 2]) == DefaultPartitioner()(
    ...     b"credit-risk", [0, 1, 2], [0, 1, 2])
    True
    """

    #: Keys longer than this (arbitrary input keys on the DLQ) are hashed, not remembered.
    MAX_KEY_BYTES = 128
    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        from aiokafka.partitioner import DefaultPartitioner

        self._default = DefaultPartitioner()
        self._memo: dict[tuple[bytes, tuple[int, ...]], int] = {}

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None or len(key) > self.MAX_KEY_BYTES:
            partition: int = self._default(key, all_partitions, available)
            return partition
        memo_key = (key, tuple(all_partitions))
        partition = self._memo.get(memo_key, -1)
        if partition < 0:
            partition = self._default(key, all_partitions, available)
            if len(self._memo) >= self.MAX_ENTRIES:
                self._memo.clear()
            self._memo[memo_key] = partition
        return partition


class Outgoing(Protocol):
    """What :class:`BatchWriter` writes: a record with its topic and optional partition."""

    topic: str
    value: bytes
    key: bytes | None
    headers: list[tuple[str, bytes]]
    partition: int | None


class BatchWriter:
    """Write many records as one record batch per partition instead of one ``send()`` each.

    ``AIOKafkaProducer.send`` costs about 10 us of Python per message (a coroutine,
    a future, a metadata wait and an accumulator append each); filling aiokafka's
    own :class:`~aiokafka.producer.message_accumulator.BatchBuilder` and handing
    it over with ``send_batch`` costs about 4 us. The bytes on the wire are the
    same: record batches of the producer's ``max_batch_size``, its compression,
    idempotent sequence numbers and transaction markers (``send_batch`` adds the
    partition to the open transaction). Partitions are the ones ``send()`` picks
    (the producer's partitioner over the topic's partition lists), per-partition
    order is the order of ``records``, and a record larger than the producer's
    ``max_request_size`` raises :class:`~aiokafka.errors.MessageSizeTooLargeError`
    as ``send()`` does.
    """

    def __init__(self, partitioner: MemoPartitioner, max_request_size: int) -> None:
        self._partitioner = partitioner
        self._max_request_size = max_request_size

    async def send(self, producer: Any, records: Iterable[Outgoing]) -> list[asyncio.Future[Any]]:
        """Queue ``records`` on ``producer``; the futures resolve when each batch is acked."""
        from aiokafka.errors import MessageSizeTooLargeError
        from aiokafka.record.default_records import DefaultRecordBatchBuilder

        builders: dict[tuple[str, int], Any] = {}
        futures: list[asyncio.Future[Any]] = []
        partition_lists: dict[str, tuple[list[int], list[int]]] = {}
        near_limit = self._max_request_size - 65_536
        for r in records:
            topic, partition = r.topic, r.partition
            if partition is None:
                lists = partition_lists.get(topic)
                if lists is None:
                    await producer.partitions_for(topic)  # waits for the topic's metadata
                    cluster = producer.client.cluster
                    lists = partition_lists[topic] = (
                        list(cluster.partitions_for_topic(topic)),
                        list(cluster.available_partitions_for_topic(topic)),
                    )
                partition = self._partitioner(r.key, *lists)
            if len(r.value) > near_limit:
                size = DefaultRecordBatchBuilder.estimate_size_in_bytes(r.key, r.value, r.headers)
                if size > self._max_request_size:
                    raise MessageSizeTooLargeError(
                        f"The message is {size} bytes when serialized which is larger than "
                        "the maximum request size you have configured with max_request_size"
                    )
            slot = (topic, partition)
            builder = builders.get(slot)
            if builder is None:
                builder = builders[slot] = producer.create_batch()
            if builder.append(timestamp=None, key=r.key, value=r.value, headers=r.headers) is None:
                # Full: send it and start the next one (an empty batch takes any one record).
                futures.append(await producer.send_batch(builder, topic, partition=partition))
                builder = builders[slot] = producer.create_batch()
                builder.append(timestamp=None, key=r.key, value=r.value, headers=r.headers)
        for (topic, partition), builder in builders.items():
            builder.close()  # complete: the sender need not wait linger_ms for more
            futures.append(await producer.send_batch(builder, topic, partition=partition))
        return futures
