"""The consume loop: poll a batch, run the stages, write every output, then commit.

Delivery guarantee (at-least-once, the default): a batch's offsets are
committed only after every output of the batch (sanitized events, DLQ records,
and whatever other components queued with :meth:`PipelineWorker.enqueue`, such
as alerts and checkpoints) has been acknowledged by the broker. A crash at any
point before the commit replays the batch. With ``delivery=exactly_once`` the
same outputs and the input offsets go into one Kafka transaction.

Memory is bounded: the loop does not poll again until the current batch is
done, so at most ``max_batch`` messages plus the client's fetch buffer are in
memory whatever the backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.producer.transaction_manager import TransactionState

from service.backoff import Backoff, Retrying
from service.errors import InvalidEvent
from service.kafka.aiokafka_compat import UndecodableBatch, UndecodableBatches, guard_undecodable
from service.kafka.clients import (
    BatchWriter,
    MemoPartitioner,
    common_options,
    output_codec,
    wait_after_empty_fetch,
)
from service.kafka.topics import ConfigMismatch, TopicSpec, ensure_topics
from service.metrics import GuardianMetrics
from service.pipeline.context import EventContext
from service.pipeline.decode import decode_label
from service.pipeline.dlq import dead_letter
from service.pipeline.forwarded_headers import allowed
from service.pipeline.stages import Stage
from service.pipeline.undecodable import (
    UndecodableHook,
    UndecodablePolicy,
    dlq_body,
    dlq_headers,
)
from service.settings import GuardianSettings

log = logging.getLogger(__name__)

_CHILD_CACHE_LIMIT = 10_000


PartitionHook = Callable[[set[TopicPartition]], Awaitable[None]]


@dataclass(slots=True)
class OutputRecord:
    """A message some component wants written with the next batch.

    ``partition`` pins the record to one partition (``None``: by key).
    ``replaceable`` marks a record of a compacted topic: a newer replaceable
    record with the same topic and key queued before the write supersedes it,
    so a batch replayed after a failed write does not queue the same
    checkpoint twice.
    """

    topic: str
    value: bytes
    key: bytes | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    partition: int | None = None
    replaceable: bool = False


@dataclass(slots=True)
class _Queued:
    """The queued records one write took: how many plain ones, which replaceable ones."""

    records: list[OutputRecord]
    pending: int
    latest: dict[tuple[str, bytes | None], OutputRecord]


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: PipelineWorker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._worker._on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._worker._on_assigned(set(assigned))


class PipelineWorker:
    """One Guardian consumer: owns the Kafka clients and the batch loop.

    Parameters
    ----------
    settings
        The process settings.
    metrics
        Where pipeline metrics are recorded.
    stages
        The chain run over each batch of input events, in order.
    topic_specs
        Topics to create or correct at start, besides the inputs.
    on_label
        Called with each valid label (a dict) from the labels topic.
    """

    def __init__(
        self,
        settings: GuardianSettings,
        metrics: GuardianMetrics,
        stages: Sequence[Stage],
        *,
        topic_specs: Sequence[TopicSpec] = (),
        on_label: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.stages = list(stages)
        self.topic_specs = list(topic_specs)
        self.on_label = on_label
        self.on_assigned: list[PartitionHook] = []
        self.on_revoked: list[PartitionHook] = []
        self.before_commit: list[Callable[[], Awaitable[None]]] = []
        #: Told of every input batch skipped or stopped as undecodable (the alert engine).
        self.on_undecodable: list[UndecodableHook] = []
        self.topic_mismatches: list[ConfigMismatch] = []
        self._kafka = settings.kafka
        # Failed polls and failed batch writes are retried after kafka.retry_backoff_s doubling
        # up to 30 s, with full jitter; a poll that answers (a batch written) resets its count.
        self._poll_retry = Retrying(Backoff(settings.kafka.retry_backoff_s, 30.0))
        self._write_retry = Retrying(Backoff(settings.kafka.retry_backoff_s, 30.0))
        self._topics = settings.kafka.topics
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._pending: list[OutputRecord] = []
        self._latest: dict[tuple[str, bytes | None], OutputRecord] = {}
        self._batch_lock = asyncio.Lock()
        self._committed: dict[TopicPartition, int] = {}
        #: Offsets whose commit a rebalance refused (their outputs are written).
        self._refused_commits: dict[TopicPartition, int] = {}
        self._assigned: set[TopicPartition] = set()
        self._undecodable: UndecodableBatches | None = None
        self._undecodable_policy = UndecodablePolicy(
            settings.kafka.on_undecodable, settings.kafka.undecodable_retries
        )
        #: Partitions paused by ``on_undecodable=stop``, with the reason readiness shows.
        self._stopped: dict[TopicPartition, str] = {}
        #: Input headers copied to outputs (after the redact stage scanned them).
        self._forward_headers = frozenset(settings.kafka.forward_headers)
        self._kafka_up = False
        self._started = False
        self._producer_broken = False
        self._producer_options: dict[str, Any] = {}
        self._health_task: asyncio.Task[None] | None = None
        self._processed_children: dict[str, Any] = {}
        self.transactional = settings.kafka.delivery == "exactly_once"
        self._partitioner = MemoPartitioner()
        self._max_request_size = settings.limits.max_message_bytes + 65_536
        # Outputs go out as one record batch per partition (see BatchWriter), with the same
        # partitions the producer's own send() would pick.
        self._batches = BatchWriter(self._partitioner, self._max_request_size)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Connect, create missing topics, join the consumer group."""
        options = common_options(self._kafka)
        self._admin = AIOKafkaAdminClient(client_id=f"{self._kafka.client_id}-admin", **options)
        await self._admin.start()
        await self.ensure_topics()
        producer_options: dict[str, Any] = {
            "client_id": self._kafka.client_id,
            "enable_idempotence": True,
            "acks": "all",
            "linger_ms": self._kafka.linger_ms,
            "compression_type": output_codec(self._kafka),
            "max_request_size": self._max_request_size,
            "max_batch_size": self._kafka.max_batch_bytes,
            "partitioner": self._partitioner,
        }
        if self.transactional:
            producer_options["transactional_id"] = self.transactional_id
        self._producer_options = {**options, **producer_options}
        self._producer = AIOKafkaProducer(**self._producer_options)
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            **options,
            client_id=self._kafka.client_id,
            group_id=self._kafka.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Both delivery modes: records of aborted publisher transactions never reach
            # an output or a detector (an open transaction holds the partition back).
            isolation_level=self._kafka.isolation_level,
            max_partition_fetch_bytes=self._kafka.max_partition_fetch_bytes,
            session_timeout_ms=self._kafka.session_timeout_ms,
            heartbeat_interval_ms=self._kafka.heartbeat_interval_ms,
            # A stable replica id makes this a static member: a replica restarted after a
            # crash takes its own place at once instead of waiting for its old session to expire.
            group_instance_id=self.settings.replica_id,
        )
        await self._consumer.start()
        wait_after_empty_fetch(self._consumer, self._kafka.empty_fetch_backoff_ms)
        self._undecodable = guard_undecodable(self._consumer)
        self._consumer.subscribe(
            topics=[self._topics.events, self._topics.labels], listener=_Rebalance(self)
        )
        self._kafka_up = True
        self.metrics.kafka_up.set(1)
        self._started = True
        self._health_task = asyncio.create_task(self._watch_health(), name="kafka-health")

    async def ensure_topics(self, extra: Sequence[TopicSpec] = ()) -> list[ConfigMismatch]:
        """Create or correct every topic Guardian uses; remember what could not be fixed."""
        assert self._admin is not None
        t = self._topics
        inputs = [
            TopicSpec(name, t.partitions, t.replication_factor) for name in (t.events, t.labels)
        ]
        self.topic_mismatches = await ensure_topics(
            self._admin, [*inputs, *self.topic_specs, *extra]
        )
        return self.topic_mismatches

    @property
    def transactional_id(self) -> str:
        """``<group>-<replica id>``: stable across restarts, so a restarted replica fences
        its crashed predecessor and aborts its open transaction.

        Without a replica id every process gets a unique id (host and pid): replicas then
        never fence each other by mistake, but a zombie is only fenced by the group.
        """
        replica = self.settings.replica_id or f"{socket.gethostname()}-{os.getpid()}"
        return f"{self._kafka.group_id}-{replica}"

    @property
    def admin(self) -> AIOKafkaAdminClient:
        assert self._admin is not None, "worker not started"
        return self._admin

    @property
    def producer(self) -> AIOKafkaProducer:
        assert self._producer is not None, "worker not started"
        return self._producer

    async def close(self) -> None:
        """Hand over, leave the group and close the clients.

        A graceful stop runs the revocation hooks for every owned partition
        (checkpoints are written and acknowledged), then leaves the group even
        as a static member, so another replica takes the partitions at once
        instead of after the session timeout. An unfinished batch stays
        uncommitted and is replayed by the next owner.
        """
        if self._started and self._assigned:
            with contextlib.suppress(KafkaError, OSError, TimeoutError):
                await asyncio.wait_for(self._on_revoked(set(self._assigned)), timeout=10)
        self._started = False
        if self._consumer is not None and self.settings.replica_id is not None:
            # aiokafka never sends LeaveGroup for a static member (it expects to come back
            # within the session timeout); a stop we chose is a hand-over, so leave.
            self._consumer._coordinator._group_instance_id = None
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        # Close concurrently and bounded: a consumer still joining the group (the broker holds
        # the JoinGroup answer until the old member's session expires) must not delay exit.
        closing = [
            self._close_client(client)
            for client in (self._consumer, self._producer, self._admin)
            if client is not None
        ]
        await asyncio.gather(*closing)
        self.metrics.partitions_assigned.set(0)

    @staticmethod
    async def _close_client(client: Any) -> None:
        try:
            if isinstance(client, AIOKafkaAdminClient):
                await asyncio.wait_for(client.close(), timeout=2)
            else:
                await asyncio.wait_for(client.stop(), timeout=4)
        except (KafkaError, TimeoutError, OSError) as exc:
            log.warning("closing %s: %s", type(client).__name__, exc or type(exc).__name__)

    # ------------------------------------------------------------------ readiness
    @property
    def ready(self) -> bool:
        """Connected to Kafka, owning at least one input partition, none stopped."""
        return self._started and self._kafka_up and bool(self._assigned) and not self._stopped

    @property
    def status(self) -> dict[str, Any]:
        return {
            "started": self._started,
            "kafka_up": self._kafka_up,
            "assigned_partitions": sorted(f"{tp.topic}[{tp.partition}]" for tp in self._assigned),
            "stopped_partitions": [self._stopped[tp] for tp in sorted(self._stopped)],
        }

    async def _watch_health(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self.admin.list_topics(), timeout=3)
                up = True
            except (KafkaError, TimeoutError, OSError):
                up = False
            if up != self._kafka_up:
                log.warning("Kafka is %s", "reachable again" if up else "unreachable")
            self._kafka_up = up
            self.metrics.kafka_up.set(1 if up else 0)
            await self._update_lag()
            self.metrics.refresh_overflow()
            await asyncio.sleep(2)

    async def _update_lag(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        for tp in list(self._assigned):
            high = consumer.highwater(tp)
            if high is None:
                continue
            committed = self._committed.get(tp)
            if committed is None:
                try:
                    committed = await consumer.committed(tp) or 0
                except KafkaError:
                    continue
            self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
                max(0, high - committed)
            )

    # ------------------------------------------------------------------ rebalance
    async def _wait_for_batch(self) -> bool:
        """Take the batch lock (the batch in flight finishes first); False if it stays stuck.

        Bounded by the session timeout: a rebalance callback must not hang forever.
        """
        try:
            await asyncio.wait_for(
                self._batch_lock.acquire(), timeout=self._kafka.session_timeout_ms / 1000
            )
        except TimeoutError:
            return False
        return True

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        # Wait for the batch in flight: it commits its own offsets when its outputs are acked.
        if not await self._wait_for_batch():
            log.warning("revocation while a batch is stuck; it will be replayed by the next owner")
            return
        try:
            for hook in self.on_revoked:
                await hook(revoked)
            # What the hooks queued (checkpoints of the revoked partitions) is written now:
            # there is no next batch for these partitions in this replica.
            await self.flush()
        finally:
            self._batch_lock.release()
        self._assigned -= revoked
        for tp in revoked:
            self._committed.pop(tp, None)
            self._stopped.pop(tp, None)  # the next owner meets the batch and decides itself
            with contextlib.suppress(KeyError):
                self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))
        self.metrics.partitions_assigned.set(len(self._assigned))
        log.info("partitions revoked: %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in revoked))

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        # The fetcher may already be fetching the new partitions: no batch runs the stages
        # until the hooks are done (the checkpointer restores the detectors those events
        # feed; a batch before the restore would be overwritten by it).
        locked = await self._wait_for_batch()
        if not locked:
            log.warning("assignment while a batch is stuck; running its hooks anyway")
        try:
            await self._recommit(assigned)
            for hook in self.on_assigned:
                await hook(assigned)
        finally:
            if locked:
                self._batch_lock.release()
        self._assigned |= assigned
        self.metrics.partitions_assigned.set(len(self._assigned))
        log.info(
            "partitions assigned: %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned)
        )

    async def _recommit(self, assigned: set[TopicPartition]) -> None:
        """Commit again what a rebalance refused, for the partitions this replica got back.

        A broker may refuse a commit once a rebalance has begun (noida-db does as soon as
        another member leaves; Apache Kafka accepts the old generation until the new one
        forms). The batch's outputs were written, so committing its offsets with the new
        generation (and seeking there: the fetcher may have started from the old committed
        offset) saves replaying it; only forward: a later commit by another owner in
        between is left as it is.
        """
        refused, self._refused_commits = self._refused_commits, {}
        retry = {tp: offset for tp, offset in refused.items() if tp in assigned}
        if not retry or self._consumer is None:
            return
        ahead = {}
        for tp, offset in retry.items():
            current = await self.committed_offset(tp)
            if current is None or current < offset:
                ahead[tp] = offset
        if not ahead:
            return
        try:
            await self._consumer.commit(ahead)
        except (KafkaError, OSError) as exc:
            log.warning("committing again after the rebalance failed: %s", type(exc).__name__)
            return
        for tp, offset in ahead.items():
            # The fetcher may have started from the old committed offset already.
            self._consumer.seek(tp, offset)
        self._committed.update(ahead)
        log.info(
            "committed again after the rebalance: %s",
            sorted(f"{tp.topic}[{tp.partition}]@{offset}" for tp, offset in ahead.items()),
        )

    @property
    def committed(self) -> dict[TopicPartition, int]:
        """Next offsets this replica committed per owned partition (a copy)."""
        return dict(self._committed)

    async def committed_offset(self, tp: TopicPartition) -> int | None:
        """The group's committed offset of ``tp`` as the broker has it (``None``: none/unknown)."""
        assert self._consumer is not None
        try:
            return await self._consumer.committed(tp)  # type: ignore[no-any-return]
        except KafkaError as exc:
            log.warning("committed offset of %s[%d] unknown: %s", tp.topic, tp.partition, exc)
            return None

    # ------------------------------------------------------------------ the loop
    def enqueue(self, record: OutputRecord) -> None:
        """Queue a record to be written, and acknowledged, with the next batch."""
        if record.replaceable:
            self._latest[(record.topic, record.key)] = record
        else:
            self._pending.append(record)

    @property
    def queued(self) -> int:
        """Records waiting for the next batch."""
        return len(self._pending) + len(self._latest)

    async def flush(self) -> bool:
        """Write the queued records now, without offsets; True when acknowledged.

        For hooks that run with the batch lock held (revocation). On failure
        the records stay queued for the next batch.
        """
        if not self.queued:
            return True
        queued = self._take_queued()
        try:
            await self._write(queued.records, {})
        except (KafkaError, OSError) as exc:
            log.warning("flushing %d queued records failed: %s", self.queued, exc)
            await self._recover_producer()
            return False
        self._release(queued)
        return True

    def _take_queued(self) -> _Queued:
        latest = dict(self._latest)
        return _Queued([*self._pending, *latest.values()], len(self._pending), latest)

    def _release(self, queued: _Queued) -> None:
        """Drop what a written batch carried; keep what was queued or replaced meanwhile."""
        del self._pending[: queued.pending]
        for key, record in queued.latest.items():
            if self._latest.get(key) is record:
                del self._latest[key]

    async def run(self, stop: asyncio.Event) -> None:
        """Process batches until ``stop`` is set; the batch in flight gets a grace period."""
        assert self._consumer is not None, "start() first"
        consumer = self._consumer
        stop_wait = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                # getmany waits without limit while the group rebalances: race it against stop.
                poll = asyncio.create_task(
                    consumer.getmany(
                        timeout_ms=self._kafka.poll_timeout_ms, max_records=self._kafka.max_batch
                    )
                )
                await asyncio.wait({poll, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
                if not poll.done():
                    poll.cancel()
                    with contextlib.suppress(asyncio.CancelledError, KafkaError):
                        await poll
                    break
                try:
                    polled = poll.result()
                except KafkaError as exc:
                    log.warning("poll failed: %s; retrying", exc)
                    await asyncio.sleep(self._poll_retry.next())
                    continue
                self._poll_retry.reset()
                skips = self._judge_undecodable()
                if not polled and not self.queued and not skips:
                    continue
                batch = asyncio.create_task(self._process(polled, skips), name="batch")
                done, _ = await asyncio.wait(
                    {batch, stop_wait}, return_when=asyncio.FIRST_COMPLETED
                )
                if batch not in done:
                    done, _ = await asyncio.wait({batch}, timeout=self._kafka.shutdown_grace_s)
                    if batch not in done:
                        log.warning("shutting down: abandoning the batch in flight, uncommitted")
                        batch.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await batch
                        break
                batch.result()
        finally:
            stop_wait.cancel()

    def _judge_undecodable(self) -> list[UndecodableBatch]:
        """Batches the last poll could not decode: fetched again, or to skip, or stopped."""
        assert self._undecodable is not None and self._consumer is not None
        skips = []
        for found, fetches in self._undecodable.take():
            verdict = self._undecodable_policy.judge(found, fetches)
            if verdict.decision == "skip":
                skips.append(found)
            elif verdict.decision == "stop" and found.tp in self._assigned:
                self._consumer.pause(found.tp)
                self._stopped[found.tp] = (
                    f"{found.where}: cannot be decoded ({found.error}); "
                    "partition stopped (kafka.on_undecodable=stop)"
                )
                log.error("stopping %s", self._stopped[found.tp])
                self._report_undecodable(found, "stopped")
        return skips

    def _report_undecodable(self, batch: UndecodableBatch, action: str) -> None:
        self.metrics.undecodable_batches.labels(batch.tp.topic, action).inc()
        for hook in self.on_undecodable:
            hook(batch, action)

    async def _process(
        self, polled: dict[TopicPartition, list[Any]], skips: Sequence[UndecodableBatch] = ()
    ) -> None:
        async with self._batch_lock:
            started = time.perf_counter()
            events: list[EventContext] = []
            labels: list[EventContext] = []
            offsets: dict[TopicPartition, int] = {}
            first: dict[TopicPartition, int] = {}
            forward = self._forward_headers
            for tp, messages in polled.items():
                if not messages:
                    continue
                first[tp] = messages[0].offset
                offsets[tp] = messages[-1].offset + 1
                target = labels if tp.topic == self._topics.labels else events
                for m in messages:
                    target.append(
                        EventContext(tp.topic, tp.partition, m.offset, m.value or b"", m.key)
                    )
                if forward and target is events:
                    for ctx, m in zip(target[-len(messages) :], messages, strict=True):
                        if m.headers:
                            ctx.input_headers = allowed(m.headers, forward)
            skipped = self._skip_undecodable(skips, first, offsets)
            self.metrics.events_consumed.inc(len(events))
            for stage in self.stages:
                await self._run_stage(stage, events)
            self._handle_labels(labels)
            for hook in self.before_commit:
                await hook()
            # Components enqueue while the batch is written (the alert engine runs in its own
            # task): only the records taken into this batch may leave the queue once it is acked.
            queued = self._take_queued()
            records = self._outputs(events, labels, queued.records)
            records.extend(
                OutputRecord(self._topics.dlq, dlq_body(b, "skipped"), None, dlq_headers(b))
                for b in skipped
            )
            try:
                await self._write(records, offsets)
            except (KafkaError, OSError) as exc:
                log.warning("writing a batch failed (%s); replaying it from its first offsets", exc)
                self._kafka_up = False
                assert self._consumer is not None
                for tp, offset in first.items():
                    if tp in self._assigned:
                        self._consumer.seek(tp, offset)
                await self._recover_producer()
                await asyncio.sleep(self._write_retry.next())
                return
            self._write_retry.reset()
            self._release(queued)
            self._committed.update(offsets)
            for b in skipped:
                log.error("skipped %s: cannot be decoded (%s)", b.where, b.error)
                self._report_undecodable(b, "skipped")
            self._record(events, labels, len(polled), started)

    def _skip_undecodable(
        self,
        skips: Sequence[UndecodableBatch],
        first: dict[TopicPartition, int],
        offsets: dict[TopicPartition, int],
    ) -> list[UndecodableBatch]:
        """Move past each skipped range: it is committed with this batch (replayed if it fails)."""
        assert self._consumer is not None
        skipped = []
        for b in skips:
            if b.tp not in self._assigned:  # revoked meanwhile: its new owner decides
                continue
            self._consumer.seek(b.tp, b.last + 1)
            first[b.tp] = min(first.get(b.tp, b.first), b.first)
            offsets[b.tp] = max(offsets.get(b.tp, 0), b.last + 1)
            skipped.append(b)
        return skipped

    async def _run_stage(self, stage: Stage, events: list[EventContext]) -> None:
        """Run one stage; a bug that raises for one event costs that event, not the partition.

        Stages reject bad events themselves and never raise for one; should one
        raise anyway, the batch is re-run through that stage event by event and
        each event that raises is dead-lettered as ``internal_error`` (the rest
        continue). Events the stage had handled before it raised may be handled
        twice, which for the detect stage means observed twice: a bounded cost
        for not stalling the partition forever on a replayed poison event.
        """
        try:
            await stage.process(events)
            return
        except Exception as exc:  # noqa: BLE001 - isolation boundary of a stage
            log.error(
                "stage %s raised %s on a batch of %d; isolating the event(s) that fail",
                stage.name,
                type(exc).__name__,
                len(events),
            )
        for ctx in events:
            if not ctx.ok:
                continue
            try:
                await stage.process([ctx])
            except Exception as exc:  # noqa: BLE001 - see above
                # Type name only: an exception message may quote event values.
                ctx.reject("internal_error", f"stage {stage.name} raised {type(exc).__name__}")
                log.error("stage %s failed on %s: %s", stage.name, ctx.where, type(exc).__name__)

    def _handle_labels(self, labels: list[EventContext]) -> None:
        for ctx in labels:
            try:
                label = decode_label(ctx.raw, self.settings.limits)
            except InvalidEvent as exc:
                ctx.reject(exc.dlq_reason or "invalid_schema", exc.detail)
                continue
            if self.on_label is not None:
                self.on_label(label)

    def _outputs(
        self, events: list[EventContext], labels: list[EventContext], queued: list[OutputRecord]
    ) -> list[OutputRecord]:
        records = list(queued)
        dlq = self._topics.dlq
        for ctx in (*events, *labels):
            if ctx.ok:
                if ctx.event is not None and ctx.output_topic:
                    records.append(
                        OutputRecord(
                            ctx.output_topic,
                            orjson.dumps(ctx.event),
                            ctx.model.encode(),
                            ctx.headers,
                        )
                    )
                continue
            parsed = ctx.event if ctx.event is not None else _try_parse(ctx.raw)
            letter = dead_letter(
                reason=ctx.error or "unknown",
                detail=ctx.error_detail,
                topic=ctx.topic,
                partition=ctx.partition,
                offset=ctx.offset,
                raw=ctx.raw,
                parsed=parsed,
                key=ctx.key,
            )
            records.append(
                OutputRecord(
                    dlq,
                    letter.value,
                    letter.key,
                    [("guardian-error", letter.error), ("guardian-source", ctx.where.encode())],
                )
            )
        return records

    async def _write(self, records: list[OutputRecord], offsets: dict[TopicPartition, int]) -> None:
        assert self._producer is not None and self._consumer is not None
        if self._producer_broken:
            await self._restart_producer()
        producer = self._producer
        if self.transactional:
            # Outputs, checkpoints and input offsets commit together or not at all; an
            # exception aborts the transaction and the caller seeks back and replays.
            async with producer.transaction():
                await self._batches.send(producer, records)
                if offsets:
                    await producer.send_offsets_to_transaction(offsets, self._kafka.group_id)
            return
        futures = await self._batches.send(producer, records)
        if futures:
            await asyncio.gather(*futures)
        if offsets:
            await self._commit_or_remember(offsets)

    async def _commit_or_remember(self, offsets: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError as exc:
            # The group rebalanced under us. The outputs are written: if the partitions
            # come back to this replica, the commit is made again on assignment (_recommit);
            # the ones that go elsewhere are replayed by their new owner (at-least-once).
            log.warning("commit refused after a rebalance: %s", type(exc).__name__)
            self._refused_commits.update(offsets)

    async def _recover_producer(self) -> None:
        """After a failed transactional write, retire the producer if it is unusable.

        An abort that could not reach the broker leaves aiokafka's transaction
        manager outside ``READY``; the next write then starts a fresh producer
        with the same transactional id, which fences the old one and makes the
        coordinator abort its open transaction.
        """
        producer = self._producer
        if not self.transactional or producer is None or self._producer_broken:
            return
        txn = producer._txn_manager
        if txn is not None and txn.state == TransactionState.READY:
            return
        log.warning("the transactional producer is unusable; it is replaced before the next write")
        self._producer_broken = True
        await self._close_client(producer)

    async def _restart_producer(self) -> None:
        fresh = AIOKafkaProducer(**self._producer_options)
        try:
            await fresh.start()
        except BaseException:
            await self._close_client(fresh)
            raise
        self._producer = fresh
        self._producer_broken = False
        log.info("transactional producer restarted")

    def _record(
        self,
        events: list[EventContext],
        labels: list[EventContext],
        partitions: int,
        started: float,
    ) -> None:
        m = self.metrics
        per_model: Tally[str] = Tally()
        rejected: Tally[str] = Tally()
        for ctx in (*events, *labels):
            if ctx.ok:
                if ctx.event is not None and ctx.output_topic:
                    per_model[ctx.model] += 1
            else:
                rejected[ctx.error or "unknown"] += 1
        for model, n in per_model.items():
            child = self._processed_children.get(model)
            if child is None:
                child = m.events_processed.labels(m.model_label(model))
                if len(self._processed_children) < _CHILD_CACHE_LIMIT:
                    self._processed_children[model] = child
            child.inc(n)
        for reason, n in rejected.items():
            m.events_rejected.labels(reason).inc(n)
        if events or labels:
            m.batch_size.observe(len(events) + len(labels))
            m.observe_processing(len(events) + len(labels), time.perf_counter() - started)
            # Sizes and reason codes only, never values; INFO when something was rejected.
            log.log(
                logging.INFO if rejected else logging.DEBUG,
                "batch of %d events and %d labels from %d partitions: %d processed, rejected %s",
                len(events),
                len(labels),
                partitions,
                sum(per_model.values()),
                dict(rejected) or "none",
                extra={
                    "batch_size": len(events) + len(labels),
                    "events": len(events),
                    "labels": len(labels),
                    "partitions": partitions,
                    "processed": sum(per_model.values()),
                    "rejected": dict(rejected),
                },
            )
        for ctx in events:
            if not ctx.ok:
                log.debug("rejected %s: %s", ctx.where, ctx.error)


def _try_parse(raw: bytes) -> Any | None:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
