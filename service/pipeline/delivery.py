"""One unit of work owns delivery: a batch's outputs are acknowledged before its offsets commit.

:meth:`Delivery.deliver` is the whole unit, in order:

1. a transactional producer retired after a failed write is replaced;
2. the outputs go out as one record batch per partition (``BatchWriter``);
3. at-least-once: every batch is acknowledged, then the input offsets are
   committed; exactly-once: outputs and offsets go into one transaction;
4. a commit the group refused (it rebalanced meanwhile) is remembered and made
   again with the new generation if the partitions come back
   (:meth:`Delivery.recommit`, from the assignment callback).

Any exception from step 2 or 3 leaves the offsets uncommitted: the caller seeks
back and replays the batch, after :meth:`Delivery.recover`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from service.kafka.aiokafka_compat import transaction_ready
from service.kafka.clients import BatchWriter
from service.kafka.factory import PipelineClients, close_client, max_request_size
from service.pipeline.outputs import OutputRecord
from service.settings import GuardianSettings

log = logging.getLogger(__name__)

Offsets = dict[TopicPartition, int]


class Delivery:
    """Writes a batch's outputs and commits its input offsets (or one transaction).

    Parameters
    ----------
    settings
        The process settings (``kafka.delivery``, the group id).
    clients
        Builds the output producer, at :meth:`start` and again to replace a retired one.

    Examples
    --------
    >>> delivery = Delivery(settings, AiokafkaClients(settings))  # doctest: +SKIP
    >>> await delivery.start(consumer)  # doctest: +SKIP
    >>> offsets = {TopicPartition("inference.events", 0): 130}
    >>> await delivery.deliver(records, offsets)  # doctest: +SKIP
    """

    def __init__(self, settings: GuardianSettings, clients: PipelineClients) -> None:
        self._group_id = settings.kafka.group_id
        self._clients = clients
        self.transactional = settings.kafka.delivery == "exactly_once"
        # Outputs go out as one record batch per partition, with the same partitions the
        # producer's own send() would pick.
        self._writer = BatchWriter(clients.partitioner, max_request_size(settings))
        self._producer: Any = None
        self._consumer: Any = None
        self._producer_broken = False
        self._committed: Offsets = {}
        #: Offsets whose commit a rebalance refused (their outputs are written).
        self._refused: Offsets = {}

    async def start(self, consumer: Any) -> None:
        """Start the output producer; ``consumer`` (started) is the one whose offsets commit."""
        self._consumer = consumer
        self._producer = self._clients.output_producer()
        await self._producer.start()

    @property
    def producer(self) -> Any:
        assert self._producer is not None, "delivery not started"
        return self._producer

    async def close(self) -> None:
        if self._producer is not None:
            await close_client(self._producer)

    # ------------------------------------------------------------------ the unit
    async def deliver(self, records: list[OutputRecord], offsets: Offsets) -> None:
        """Write ``records``; once all are acknowledged, commit ``offsets`` (may be empty)."""
        assert self._producer is not None and self._consumer is not None, "start() first"
        if self._producer_broken:
            await self._restart_producer()
        producer = self._producer
        if self.transactional:
            # Outputs, checkpoints and input offsets commit together or not at all; an
            # exception aborts the transaction and the caller seeks back and replays.
            async with producer.transaction():
                await self._writer.send(producer, records)
                if offsets:
                    await producer.send_offsets_to_transaction(offsets, self._group_id)
        else:
            futures = await self._writer.send(producer, records)
            if futures:
                await asyncio.gather(*futures)
            if offsets:
                await self._commit_or_remember(offsets)
        # Also after a refused commit: the outputs are written, so lag and the hand-over
        # check count the batch as done here.
        self._committed.update(offsets)

    async def _commit_or_remember(self, offsets: Offsets) -> None:
        try:
            await self._consumer.commit(offsets)
        except CommitFailedError as exc:
            # The group rebalanced under us. The outputs are written: if the partitions
            # come back to this replica, the commit is made again on assignment (recommit);
            # the ones that go elsewhere are replayed by their new owner (at-least-once).
            log.warning("commit refused after a rebalance: %s", type(exc).__name__)
            self._refused.update(offsets)

    async def recover(self) -> None:
        """After a failed transactional write, retire the producer if it is unusable.

        An abort that could not reach the broker leaves the producer unable to
        begin a transaction; the next write then starts a fresh producer with
        the same transactional id, which fences the old one and makes the
        coordinator abort its open transaction.
        """
        producer = self._producer
        if not self.transactional or producer is None or self._producer_broken:
            return
        if transaction_ready(producer):
            return
        log.warning("the transactional producer is unusable; it is replaced before the next write")
        self._producer_broken = True
        await close_client(producer)

    async def _restart_producer(self) -> None:
        fresh = self._clients.output_producer()
        try:
            await fresh.start()
        except BaseException:
            await close_client(fresh)
            raise
        self._producer = fresh
        self._producer_broken = False
        log.info("transactional producer restarted")

    # ------------------------------------------------------------------ offsets
    @property
    def committed(self) -> Offsets:
        """Next offsets this replica committed per owned partition (a copy)."""
        return dict(self._committed)

    @property
    def refused_commits(self) -> Offsets:
        """Offsets whose commit a rebalance refused, not yet made again (a copy)."""
        return dict(self._refused)

    def forget(self, revoked: set[TopicPartition]) -> None:
        """Partitions that left this replica: their commits are the next owner's."""
        for tp in revoked:
            self._committed.pop(tp, None)

    async def committed_offset(self, tp: TopicPartition) -> int | None:
        """The group's committed offset of ``tp`` as the broker has it (``None``: none/unknown)."""
        assert self._consumer is not None, "start() first"
        try:
            return await self._consumer.committed(tp)  # type: ignore[no-any-return]
        except KafkaError as exc:
            log.warning("committed offset of %s[%d] unknown: %s", tp.topic, tp.partition, exc)
            return None

    async def recommit(self, assigned: set[TopicPartition]) -> None:
        """Commit again what a rebalance refused, for the partitions this replica got back.

        A broker may refuse a commit once a rebalance has begun (noida-db does as soon as
        another member leaves; Apache Kafka accepts the old generation until the new one
        forms). The batch's outputs were written, so committing its offsets with the new
        generation (and seeking there: the fetcher may have started from the old committed
        offset) saves replaying it; only forward: a later commit by another owner in
        between is left as it is.
        """
        refused, self._refused = self._refused, {}
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
            self._consumer.seek(tp, offset)
        self._committed.update(ahead)
        log.info(
            "committed again after the rebalance: %s",
            sorted(f"{tp.topic}[{tp.partition}]@{offset}" for tp, offset in ahead.items()),
        )
