"""Consumer-group lag from the broker's view: end offsets against committed offsets.

The pipeline's own lag gauge (``guardian_consumer_lag_messages``) is computed
from the pipeline consumer's last fetch, so it freezes when that consumer
stalls. This monitor asks the broker instead, on its own clients, every
``interval``:

- the end offset of each input partition (a ListOffsets request of a consumer
  that belongs to no group, so it never joins or disturbs the pipeline's group);
- the offsets the group committed (an OffsetFetch request of an admin client);
- the timestamp of the record at each lagging partition's committed offset (a
  one-record fetch by the same group-less consumer): ``now - timestamp`` is the
  age of the oldest unprocessed event.

Exported (every replica exports the whole group's view; aggregate with ``max``
over instances, see docs/observability.md):

- ``guardian_group_lag_messages{topic,partition}``: end offset - committed offset
  (before the group's first commit: end offset - log start offset);
- ``guardian_group_lag_seconds{topic,partition}``: age of the record at the
  committed offset by its Kafka timestamp (0 without lag). Where that record
  cannot be read (deleted by retention, a transaction marker, the fetch timed
  out), the honest approximation is the time since this monitor first saw the
  partition lagging at that committed offset;
- ``guardian_input_messages_total{topic}``: growth of the end offsets (messages
  appended to the topic, counted from this replica's start);
- ``guardian_group_committed_messages_total{topic}``: growth of the committed
  offsets (messages the group finished);
- ``guardian_group_offsets_up``: 1 when the last reading succeeded.

Partitions assigned to this replica are the pipeline's own gauge,
``guardian_partitions_assigned`` (summed over replicas: the group's assignment).

End offsets are high watermarks: on a topic written with transactions, each
commit marker takes an offset, so the lag of a caught-up partition can read 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter, Gauge

from service.kafka.clients import common_options
from service.settings import KafkaSettings

log = logging.getLogger(__name__)

#: How long one reading of the record at a committed offset may take.
FETCH_TIMEOUT_MS = 1000


class GroupOffsetMetrics:
    """The monitor's metrics, on the service's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        tp = ["topic", "partition"]
        self.lag_messages = Gauge(
            "guardian_group_lag_messages",
            "Broker's view: end offset minus the group's committed offset.",
            tp,
            registry=r,
        )
        self.lag_seconds = Gauge(
            "guardian_group_lag_seconds",
            "Broker's view: age of the oldest unprocessed record (its Kafka timestamp), 0 "
            "without lag.",
            tp,
            registry=r,
        )
        self.input_messages = Counter(
            "guardian_input_messages",
            "Messages appended to the input topics (end-offset growth seen by this replica).",
            ["topic"],
            registry=r,
        )
        self.committed_messages = Counter(
            "guardian_group_committed_messages",
            "Messages the consumer group committed (committed-offset growth seen by this replica).",
            ["topic"],
            registry=r,
        )
        self.up = Gauge(
            "guardian_group_offsets_up",
            "1 when the last reading of end and committed offsets succeeded.",
            registry=r,
        )


@dataclass
class PartitionReading:
    """One partition's offsets at one reading."""

    end: int
    committed: int | None
    start: int = 0

    @property
    def lag(self) -> int:
        done = self.committed if self.committed is not None else self.start
        return max(0, self.end - done)


@dataclass
class _Seen:
    """What the monitor remembers between readings, per partition."""

    end: int | None = None
    committed: int | None = None
    lagging_since: dict[int, float] = field(default_factory=dict)


class GroupOffsetsMonitor:
    """Read the group's end and committed offsets on an interval and export lag.

    Parameters
    ----------
    kafka
        Brokers, security and the group id to watch.
    topics
        The input topics of the group.
    metrics
        Where the readings go.
    clock
        Wall-clock seconds (record timestamps are wall-clock milliseconds).
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        topics: Sequence[str],
        metrics: GroupOffsetMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kafka = kafka
        self._topics = list(topics)
        self._metrics = metrics
        self._clock = clock
        self._seen: dict[TopicPartition, _Seen] = {}
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        options = common_options(self._kafka)
        client_id = f"{self._kafka.client_id}-offsets"
        self._admin = AIOKafkaAdminClient(client_id=client_id, **options)
        # No group_id: this consumer never joins the pipeline's group; it reads end
        # offsets and single records only.
        self._consumer = AIOKafkaConsumer(
            **options,
            client_id=client_id,
            group_id=None,
            enable_auto_commit=False,
            isolation_level=self._kafka.isolation_level,
            max_partition_fetch_bytes=65_536,
            fetch_max_bytes=65_536,
        )
        try:
            await self._admin.start()
            await self._consumer.start()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        consumer, admin = self._consumer, self._admin
        self._consumer = self._admin = None
        closing = (KafkaError, OSError, TimeoutError, AttributeError)
        if consumer is not None:
            with contextlib.suppress(*closing):
                await asyncio.wait_for(consumer.stop(), 5)
        if admin is not None:
            with contextlib.suppress(*closing):
                await asyncio.wait_for(admin.close(), 5)

    async def run(self, interval_s: float, stop: asyncio.Event) -> None:
        """Read every ``interval_s`` until ``stop``; a failed reading sets ``up`` to 0.

        A reading in flight when ``stop`` is set is cancelled: shutdown does not wait for it.
        """
        stopped = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                reading = asyncio.ensure_future(self.poll_once())
                await asyncio.wait({reading, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not reading.done():
                    reading.cancel()
                    with contextlib.suppress(asyncio.CancelledError, KafkaError, OSError):
                        await reading
                    return
                try:
                    reading.result()
                except (KafkaError, OSError, TimeoutError) as exc:
                    self._metrics.up.set(0)
                    log.warning("reading the group's offsets failed: %s", type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval_s)
        finally:
            stopped.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopped

    async def poll_once(self) -> dict[TopicPartition, PartitionReading]:
        """One reading: offsets, record ages, metrics. Returns the readings."""
        readings = await self.read_offsets()
        now = self._clock()
        lagging = {tp: r.committed for tp, r in readings.items() if r.lag > 0}
        timestamps = await self.record_timestamps(
            {tp: c if c is not None else readings[tp].start for tp, c in lagging.items()}
        )
        for tp, reading in readings.items():
            self._export(tp, reading, timestamps.get(tp), now)
        self._metrics.up.set(1)
        return readings

    async def read_offsets(self) -> dict[TopicPartition, PartitionReading]:
        """End, log-start and committed offset of every partition of the input topics."""
        assert self._admin is not None and self._consumer is not None
        await self._consumer.topics()  # refreshes the metadata of every topic
        partitions = [
            TopicPartition(topic, p)
            for topic in self._topics
            for p in sorted(self._consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return {}
        ends = await self._consumer.end_offsets(partitions)
        starts = await self._consumer.beginning_offsets(partitions)
        committed = await self._admin.list_consumer_group_offsets(
            self._kafka.group_id, partitions=partitions
        )
        return {
            tp: PartitionReading(
                end=ends[tp], committed=_offset(committed.get(tp)), start=starts.get(tp, 0)
            )
            for tp in partitions
        }

    async def record_timestamps(
        self, offsets: dict[TopicPartition, int]
    ) -> dict[TopicPartition, float]:
        """Kafka timestamp (seconds) of the record at each offset, where it can be read."""
        consumer = self._consumer
        if consumer is None or not offsets:
            return {}
        found: dict[TopicPartition, float] = {}
        consumer.assign(list(offsets))
        try:
            for tp, offset in offsets.items():
                consumer.seek(tp, offset)
            deadline = time.monotonic() + FETCH_TIMEOUT_MS / 1000
            while len(found) < len(offsets) and time.monotonic() < deadline:
                batches = await consumer.getmany(
                    timeout_ms=FETCH_TIMEOUT_MS, max_records=len(offsets) * 8
                )
                for tp, records in batches.items():
                    if tp not in found and records:
                        found[tp] = records[0].timestamp / 1000
                        consumer.pause(tp)  # one record per partition is all we need
                if not batches:
                    break
        finally:
            consumer.unsubscribe()  # no background fetches between readings
        return found

    def _export(
        self, tp: TopicPartition, reading: PartitionReading, timestamp: float | None, now: float
    ) -> None:
        m, labels = self._metrics, (tp.topic, str(tp.partition))
        seen = self._seen.setdefault(tp, _Seen())
        if seen.end is not None and reading.end > seen.end:
            m.input_messages.labels(tp.topic).inc(reading.end - seen.end)
        if seen.committed is not None and reading.committed is not None:
            if reading.committed > seen.committed:
                m.committed_messages.labels(tp.topic).inc(reading.committed - seen.committed)
        else:
            m.committed_messages.labels(tp.topic)  # the series exists (at 0) from the start
        m.input_messages.labels(tp.topic)
        seen.end, seen.committed = reading.end, reading.committed
        lag = reading.lag
        m.lag_messages.labels(*labels).set(lag)
        at = reading.committed if reading.committed is not None else reading.start
        if lag == 0:
            seen.lagging_since.clear()
            m.lag_seconds.labels(*labels).set(0)
            return
        # Remember only the current committed offset's first sighting.
        since = seen.lagging_since.get(at, now)
        seen.lagging_since = {at: since}
        age = now - timestamp if timestamp is not None else now - since
        m.lag_seconds.labels(*labels).set(max(0.0, age))


def _offset(value: Any) -> int | None:
    """The offset of an OffsetAndMetadata, None where the group has not committed (-1)."""
    if value is None:
        return None
    offset = int(value.offset)
    return offset if offset >= 0 else None


async def watch_group_offsets(
    kafka: KafkaSettings, registry: CollectorRegistry, stop: asyncio.Event
) -> None:
    """The monitor as a background task of one replica, until ``stop``.

    Off when ``kafka.group_offsets_interval_s`` is 0. A broker that does not answer
    at start is retried every interval (``guardian_group_offsets_up`` stays 0).
    """
    interval = kafka.group_offsets_interval_s
    if interval <= 0:
        return
    metrics = GroupOffsetMetrics(registry)
    t = kafka.topics
    inputs = [t.events, t.labels, *([] if kafka.repartition == "off" else [t.repartition])]
    monitor = GroupOffsetsMonitor(kafka, inputs, metrics)
    try:
        while not stop.is_set():
            try:
                await monitor.start()
                break
            except (KafkaError, OSError, TimeoutError) as exc:
                metrics.up.set(0)
                log.warning("group offsets monitor cannot start: %s", type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
        await monitor.run(interval, stop)
    finally:
        await monitor.close()
