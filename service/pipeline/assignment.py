"""The input partitions this replica owns, and what runs when the group moves them.

Both callbacks wait for the batch in flight (it commits its own offsets when
its outputs are acknowledged), bounded by the session timeout:

- revoked: the ``on_revoked`` hooks run (the checkpointer queues checkpoints of
  the leaving partitions), what they queued is flushed, and the partitions are
  forgotten (commits, stopped state, lag);
- assigned: commits a rebalance refused are made again for partitions that came
  back, then the ``on_assigned`` hooks run (the checkpointer restores state)
  before any batch of the new assignment runs the stages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import ConsumerRebalanceListener, TopicPartition

from service.metrics import GuardianMetrics
from service.pipeline.delivery import Delivery
from service.pipeline.lag import LagGauge
from service.pipeline.undecodable_gate import UndecodableGate

log = logging.getLogger(__name__)

PartitionHook = Callable[[set[TopicPartition]], Awaitable[None]]


def _names(tps: set[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}[{tp.partition}]" for tp in tps)


class Assignment(ConsumerRebalanceListener):  # type: ignore[misc]
    """aiokafka's rebalance listener for the input consumer; ``owned`` is the current set."""

    def __init__(
        self,
        batch_lock: asyncio.Lock,
        session_timeout_s: float,
        delivery: Delivery,
        gate: UndecodableGate,
        lag: LagGauge,
        metrics: GuardianMetrics,
        flush: Callable[[], Awaitable[bool]],
    ) -> None:
        self.owned: set[TopicPartition] = set()
        self.on_assigned: list[PartitionHook] = []
        self.on_revoked: list[PartitionHook] = []
        self._lock = batch_lock
        self._timeout_s = session_timeout_s
        self._delivery = delivery
        self._gate = gate
        self._lag = lag
        self._metrics = metrics
        self._flush = flush

    async def _wait_for_batch(self) -> bool:
        """Take the batch lock (the batch in flight finishes first); False if it stays stuck.

        Bounded by the session timeout: a rebalance callback must not hang forever.
        """
        try:
            await asyncio.wait_for(self._lock.acquire(), timeout=self._timeout_s)
        except TimeoutError:
            return False
        return True

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        revoked = set(revoked)
        if not await self._wait_for_batch():
            log.warning("revocation while a batch is stuck; it will be replayed by the next owner")
            return
        try:
            for hook in self.on_revoked:
                await hook(revoked)
            # What the hooks queued (checkpoints of the revoked partitions) is written now:
            # there is no next batch for these partitions in this replica.
            await self._flush()
        finally:
            self._lock.release()
        self.owned -= revoked
        self._delivery.forget(revoked)
        self._gate.release(revoked)
        self._lag.forget(revoked)
        self._metrics.partitions_assigned.set(len(self.owned))
        log.info("partitions revoked: %s", _names(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        assigned = set(assigned)
        # The fetcher may already be fetching the new partitions: no batch runs the stages
        # until the hooks are done (the checkpointer restores the detectors those events
        # feed; a batch before the restore would be overwritten by it).
        locked = await self._wait_for_batch()
        if not locked:
            log.warning("assignment while a batch is stuck; running its hooks anyway")
        try:
            await self._delivery.recommit(assigned)
            for hook in self.on_assigned:
                await hook(assigned)
        finally:
            if locked:
                self._lock.release()
        self.owned |= assigned
        self._metrics.partitions_assigned.set(len(self.owned))
        log.info("partitions assigned: %s", _names(assigned))
