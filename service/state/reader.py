"""Read the compacted state topic to its end: the latest checkpoint record per key.

Compaction keeps the latest record per key *per partition*, so that is the
unit: a checkpoint of input partition ``p`` lives on state partition
``p % n``. The latest record is the candidate (as it would be after
compaction); the others are only verified to learn how far that key's state
had got, so a replayed older record can be refused.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from service.kafka.clients import common_options
from service.settings import KafkaSettings
from service.state.checkpoint import Checkpoint, CheckpointCodec, CheckpointRefused

log = logging.getLogger(__name__)

Slot = tuple[int, bytes]
"""(state partition, record key)"""
Latest = dict[Slot, tuple[bytes | None, list[tuple[str, bytes]]]]


async def read_latest(
    kafka: KafkaSettings,
    topic: str,
    state_partitions: list[int],
    codec: CheckpointCodec,
    timeout_s: float,
) -> tuple[Latest, dict[Slot, Checkpoint]]:
    """Latest record per (state partition, key) of ``state_partitions``, read to the end,
    and the newest *verified* checkpoint read per key (to spot a replayed latest record).
    """
    newest: dict[Slot, Checkpoint] = {}
    if not state_partitions:
        return {}, newest
    tps = [TopicPartition(topic, p) for p in state_partitions]
    consumer = AIOKafkaConsumer(
        **common_options(kafka),
        client_id=f"{kafka.client_id}-state",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # Checkpoints of an aborted transaction must never come back.
        isolation_level="read_committed",
        max_partition_fetch_bytes=kafka.max_partition_fetch_bytes,
    )
    latest: Latest = {}
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                break
            polled = await consumer.getmany(*tps, timeout_ms=200, max_records=5000)
            for tp, messages in polled.items():
                for m in messages:
                    _read(tp.partition, m, latest, newest, codec)
        else:
            log.warning("reading the state topic timed out; restoring what was read")
    finally:
        await consumer.stop()
    return latest, newest


def _read(
    partition: int,
    m: Any,
    latest: Latest,
    newest: dict[Slot, Checkpoint],
    codec: CheckpointCodec,
) -> None:
    key, value, headers = m.key, m.value, m.headers
    if key is None:
        return
    slot = (partition, key)
    if value is None:  # tombstone
        latest.pop(slot, None)
        return
    latest[slot] = (value, list(headers))
    try:
        cp = codec.decode(key, value, headers)
    except CheckpointRefused:
        return  # counted only if it is the latest (in restore)
    held = newest.get(slot)
    if held is None or held.is_older_than(cp):
        newest[slot] = replace(cp, state={})
