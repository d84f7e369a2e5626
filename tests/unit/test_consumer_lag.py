"""``ConsumerLag.update`` while the assignment changes under it (a rebalance, a graceful stop)."""

from __future__ import annotations

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from service.metrics import GuardianMetrics
from service.pipeline.lag import ConsumerLag

TP0, TP1 = TopicPartition("in", 0), TopicPartition("in", 1)


class _Consumer:
    """aiokafka's behaviour: ``highwater`` asserts on a partition that is not assigned."""

    def __init__(self) -> None:
        self.assigned = {TP0, TP1}

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def highwater(self, tp: TopicPartition) -> int:
        assert tp in self.assigned, "Partition is not assigned"
        return 100

    async def committed(self, tp: TopicPartition) -> int:
        self.assigned &= {tp}  # the other one is revoked while this replica asks the broker
        return 40


async def test_a_partition_revoked_during_an_update_is_skipped_not_asserted_on() -> None:
    metrics = GuardianMetrics(CollectorRegistry())
    consumer = _Consumer()
    # Before the fix: AssertionError from highwater(TP1), which killed the worker's health
    # task and then, re-raised by close(), a graceful SIGTERM (exit 1, clients left open).
    await ConsumerLag(metrics).update(consumer, {TP0, TP1}, {})
    lags = [
        metrics.registry.get_sample_value("guardian_consumer_lag", {"topic": "in", "partition": p})
        for p in ("0", "1")
    ]
    # The partition asked about first is exported; the one revoked meanwhile is not.
    assert sorted(lags, key=str) == [60, None]
