"""The consume loop: poll a batch, run the stages, deliver every output, then commit.

Delivery guarantee (at-least-once, the default): a batch's offsets are
committed only after every output of the batch (sanitized events, DLQ records,
and whatever other components queued with :meth:`PipelineWorker.enqueue`, such
as alerts and checkpoints) has been acknowledged by the broker. A crash at any
point before the commit replays the batch. With ``delivery=exactly_once`` the
same outputs and the input offsets go into one Kafka transaction.

Memory is bounded: the loop does not poll again until the current batch is
done, so at most ``max_batch`` messages plus the client's fetch buffer are in
memory whatever the backlog.

The parts, one job each: :mod:`~service.pipeline.batch` (contexts, stage runs,
metrics), :mod:`~service.pipeline.outputs` (what is written),
:mod:`~service.pipeline.delivery` (write → acknowledge → commit),
:mod:`~service.pipeline.assignment` (rebalances),
:mod:`~service.pipeline.undecodable_gate` (poison batches),
:mod:`~service.pipeline.lag` (lag), and the clients from
:mod:`~service.kafka.factory`, passed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from service.backoff import Backoff, Retrying
from service.kafka.aiokafka_compat import (
    UndecodableBatch,
    leave_group_on_close,
    wait_after_empty_fetch,
)
from service.kafka.factory import AiokafkaClients, PipelineClients, close_client
from service.kafka.topics import ConfigMismatch, TopicSpec, ensure_topics
from service.metrics import GuardianMetrics
from service.pipeline.assignment import Assignment
from service.pipeline.batch import BatchMetrics, read_batch, run_stage
from service.pipeline.delivery import Delivery
from service.pipeline.lag import ConsumerLag, LagGauge
from service.pipeline.outputs import OutputQueue, OutputRecord, batch_outputs, skipped_outputs
from service.pipeline.repartition import Repartition, route
from service.pipeline.stages import Stage
from service.pipeline.undecodable import UndecodablePolicy
from service.pipeline.undecodable_gate import UndecodableGate
from service.settings import GuardianSettings

__all__ = ["OutputRecord", "PipelineWorker"]

log = logging.getLogger(__name__)


class PipelineWorker:
    """One Guardian consumer: the batch loop over injected Kafka clients.

    Parameters
    ----------
    settings
        The process settings.
    metrics
        Where pipeline metrics are recorded.
    stages
        The chain run over each batch of input events, in order; all of it.
    topic_specs
        Topics to create or correct at start, besides the inputs.
    on_label
        Called with each valid label (a dict) from the labels topic.
    clients
        Builds the Kafka clients (default: aiokafka from ``settings``).
    lag
        Exports consumer lag (default: from the input consumer's high watermarks).
    repartition
        Cuts ``stages`` in two around ``topics.repartition`` (``kafka.repartition: model``):
        see :mod:`service.pipeline.repartition`; ``None`` runs the whole chain on input events.
    """

    def __init__(
        self,
        settings: GuardianSettings,
        metrics: GuardianMetrics,
        stages: Sequence[Stage],
        *,
        topic_specs: Sequence[TopicSpec] = (),
        on_label: Callable[[dict[str, Any]], None] | None = None,
        clients: PipelineClients | None = None,
        lag: LagGauge | None = None,
        repartition: Repartition | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.stages = list(stages)
        self.repartition = repartition
        cut = len(self.stages) if repartition is None else repartition.detect_from
        #: Stages run on input events, and on the repartition stream (none without one).
        self.front, self.back = self.stages[:cut], self.stages[cut:]
        self.topic_specs = list(topic_specs)
        self.on_label = on_label
        self.before_commit: list[Callable[[], Awaitable[None]]] = []
        self.topic_mismatches: list[ConfigMismatch] = []
        self._kafka = settings.kafka
        # Failed polls and failed batch writes are retried after kafka.retry_backoff_s doubling
        # up to 30 s, with full jitter; a poll that answers (a batch written) resets its count.
        self._poll_retry = Retrying(Backoff(settings.kafka.retry_backoff_s, 30.0))
        self._write_retry = Retrying(Backoff(settings.kafka.retry_backoff_s, 30.0))
        self._topics = settings.kafka.topics
        self._clients: PipelineClients = clients or AiokafkaClients(settings)
        self._consumer: Any = None
        self._admin: Any = None
        self._batch_lock = asyncio.Lock()
        #: Records other components queue for the next batch (alerts, checkpoints).
        self.outputs = OutputQueue()
        self.delivery = Delivery(settings, self._clients)
        self.gate = UndecodableGate(
            UndecodablePolicy(settings.kafka.on_undecodable, settings.kafka.undecodable_retries),
            metrics,
        )
        self._lag: LagGauge = lag or ConsumerLag(metrics)
        self.assignment = Assignment(
            self._batch_lock,
            settings.kafka.session_timeout_ms / 1000,
            self.delivery,
            self.gate,
            self._lag,
            metrics,
            self.flush,
        )
        self.on_assigned = self.assignment.on_assigned
        self.on_revoked = self.assignment.on_revoked
        #: Told of every input batch skipped or stopped as undecodable (the alert engine).
        self.on_undecodable = self.gate.hooks
        self._batch_metrics = BatchMetrics(metrics)
        #: Input headers copied to outputs (after the redact stage scanned them).
        self._forward_headers = frozenset(settings.kafka.forward_headers)
        self._kafka_up = False
        self._started = False
        self._health_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Connect, create missing topics, join the consumer group."""
        self._admin = self._clients.admin()
        await self._admin.start()
        await self.ensure_topics()
        consumer = self._clients.input_consumer()
        await self.delivery.start(consumer)
        self._consumer = consumer
        await consumer.start()
        wait_after_empty_fetch(consumer, self._kafka.empty_fetch_backoff_ms)
        self.gate.watch(consumer)
        consumer.subscribe(topics=self.input_topics, listener=self.assignment)
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
    def input_topics(self) -> list[str]:
        """What the group reads: the inputs, and the repartition topic when there is one."""
        t = self._topics
        routed = [] if self.repartition is None else [self.repartition.topic]
        return [t.events, t.labels, *routed]

    @property
    def admin(self) -> Any:
        assert self._admin is not None, "worker not started"
        return self._admin

    @property
    def producer(self) -> Any:
        return self.delivery.producer

    async def close(self) -> None:
        """Hand over, leave the group and close the clients.

        A graceful stop runs the revocation hooks for every owned partition
        (checkpoints are written and acknowledged), then leaves the group even
        as a static member, so another replica takes the partitions at once
        instead of after the session timeout. An unfinished batch stays
        uncommitted and is replayed by the next owner.
        """
        owned = self.assignment.owned
        if self._started and owned:
            with contextlib.suppress(KafkaError, OSError, TimeoutError):
                await asyncio.wait_for(
                    self.assignment.on_partitions_revoked(set(owned)), timeout=10
                )
        self._started = False
        if self._consumer is not None and self.settings.replica_id is not None:
            leave_group_on_close(self._consumer)
        if self._health_task is not None:
            self._health_task.cancel()
            try:
                await self._health_task
            except asyncio.CancelledError:
                pass
            except Exception:  # a failed health check must not keep the clients open
                log.exception("the health task had failed")
        # Close concurrently and bounded: a consumer still joining the group (the broker holds
        # the JoinGroup answer until the old member's session expires) must not delay exit.
        closing = [close_client(c) for c in (self._consumer, self._admin) if c is not None]
        await asyncio.gather(*closing, self.delivery.close())
        self.metrics.partitions_assigned.set(0)

    # ------------------------------------------------------------------ readiness
    @property
    def ready(self) -> bool:
        """Connected to Kafka, owning at least one input partition, none stopped."""
        return (
            self._started
            and self._kafka_up
            and bool(self.assignment.owned)
            and not self.gate.stopped
        )

    @property
    def status(self) -> dict[str, Any]:
        stopped = self.gate.stopped
        return {
            "started": self._started,
            "kafka_up": self._kafka_up,
            "assigned_partitions": sorted(
                f"{tp.topic}[{tp.partition}]" for tp in self.assignment.owned
            ),
            "stopped_partitions": [stopped[tp] for tp in sorted(stopped)],
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
            if self._consumer is not None:
                await self._lag.update(
                    self._consumer, self.assignment.owned, self.delivery.committed
                )
            self.metrics.refresh_overflow()
            await asyncio.sleep(2)

    # ------------------------------------------------------------------ offsets
    @property
    def committed(self) -> dict[TopicPartition, int]:
        """Next offsets this replica committed per owned partition (a copy)."""
        return self.delivery.committed

    @property
    def refused_commits(self) -> dict[TopicPartition, int]:
        """Offsets a rebalance refused to commit, kept to commit again (a copy)."""
        return self.delivery.refused_commits

    async def committed_offset(self, tp: TopicPartition) -> int | None:
        """The group's committed offset of ``tp`` as the broker has it (``None``: none/unknown)."""
        return await self.delivery.committed_offset(tp)

    # ------------------------------------------------------------------ outputs
    def enqueue(self, record: OutputRecord) -> None:
        """Queue a record to be written, and acknowledged, with the next batch."""
        self.outputs.enqueue(record)

    @property
    def queued(self) -> int:
        """Records waiting for the next batch."""
        return len(self.outputs)

    async def flush(self) -> bool:
        """Write the queued records now, without offsets; True when acknowledged.

        For hooks that run with the batch lock held (revocation). On failure
        the records stay queued for the next batch.
        """
        if not self.outputs:
            return True
        taken = self.outputs.take()
        try:
            await self.delivery.deliver(taken.records, {})
        except (KafkaError, OSError) as exc:
            log.warning("flushing %d queued records failed: %s", self.queued, exc)
            await self.delivery.recover()
            return False
        self.outputs.release(taken)
        return True

    # ------------------------------------------------------------------ the loop
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
                skips = self.gate.judge(self.assignment.owned)
                if not polled and not self.outputs and not skips:
                    continue
                if not await self._run_batch(polled, skips, stop_wait):
                    break
        finally:
            stop_wait.cancel()

    async def _run_batch(
        self,
        polled: dict[TopicPartition, list[Any]],
        skips: list[UndecodableBatch],
        stop_wait: asyncio.Task[Any],
    ) -> bool:
        """One batch, raced against stop; False when a stop abandoned it (uncommitted)."""
        batch = asyncio.create_task(self.process_batch(polled, skips), name="batch")
        done, _ = await asyncio.wait({batch, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if batch not in done:
            done, _ = await asyncio.wait({batch}, timeout=self._kafka.shutdown_grace_s)
            if batch not in done:
                log.warning("shutting down: abandoning the batch in flight, uncommitted")
                batch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await batch
                return False
        batch.result()
        return True

    async def process_batch(
        self, polled: dict[TopicPartition, list[Any]], skips: Sequence[UndecodableBatch] = ()
    ) -> None:
        """Run the stages over one poll and deliver its outputs; on failure seek back to replay."""
        async with self._batch_lock:
            started = time.perf_counter()
            owned = self.assignment.owned
            router = self.repartition
            routed_topic = None if router is None else router.topic
            batch = read_batch(polled, self._topics.labels, self._forward_headers, routed_topic)
            skipped = self.gate.skip(list(skips), owned, batch.first, batch.offsets)
            self.metrics.events_consumed.inc(len(batch.events))
            for stage in self.front:
                await run_stage(stage, batch.events)
            records, routed = await route(
                batch, router, self.back, self.settings.limits, self.on_label
            )
            for hook in self.before_commit:
                await hook()
            # Components enqueue while the batch is written (the alert engine runs in its own
            # task): only the records taken into this batch may leave the queue once it is acked.
            taken = self.outputs.take()
            dlq = self._topics.dlq
            copy = None if router is None else router.event_record
            events = [*batch.events, *routed]
            records[:0] = batch_outputs(events, batch.labels, taken.records, dlq, copy)
            records.extend(skipped_outputs(skipped, dlq))
            try:
                await self.delivery.deliver(records, batch.offsets)
            except (KafkaError, OSError) as exc:
                log.warning("writing a batch failed (%s); replaying it from its first offsets", exc)
                self._kafka_up = False
                # A partition the consumer lost meanwhile (a rebalance: ``owned`` changes only
                # once the revocation hook ran) is replayed by its next owner; seeking it raises.
                assigned = self._consumer.assignment()
                for tp, offset in batch.first.items():
                    if tp in owned and tp in assigned:
                        self._consumer.seek(tp, offset)
                await self.delivery.recover()
                await asyncio.sleep(self._write_retry.next())
                return
            self._write_retry.reset()
            self.outputs.release(taken)
            for b in skipped:
                log.error("skipped %s: cannot be decoded (%s)", b.where, b.error)
                self.gate.report(b, "skipped")
            self._batch_metrics.record(events, batch.labels, len(polled), started)
