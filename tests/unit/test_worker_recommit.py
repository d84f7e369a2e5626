"""Offsets whose commit a rebalance refused are committed again if the partitions come back.

noida-db refuses a commit as soon as another member leaves the group (Apache
Kafka accepts the old generation until the new one forms). The batch's outputs
were written, so when the rebalance gives this replica the same partitions, the
worker commits those offsets with the new generation and seeks there, instead of
replaying the batch (``test_resilience_handover`` saw 50–68 duplicates of 900
without it). Partitions that went elsewhere are left to their new owner, and an
offset another owner committed further meanwhile is never moved back.
"""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry

from service.backoff import Backoff, Retrying
from service.kafka.clients import MemoPartitioner
from service.metrics import GuardianMetrics
from service.pipeline.worker import PipelineWorker
from service.settings import GuardianSettings

T0, T1, T2 = (TopicPartition("inference.events", p) for p in range(3))


class _Consumer:
    def __init__(self, committed: dict[TopicPartition, int], refuse: bool = False) -> None:
        self.group = dict(committed)
        self.refuse = refuse
        self.commits: list[dict[TopicPartition, int]] = []
        self.seeks: list[tuple[TopicPartition, int]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.refuse:
            raise CommitFailedError("rebalancing")
        self.commits.append(dict(offsets))
        self.group.update(offsets)

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.group.get(tp)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))


class _Producer:
    """Acknowledges at once; the batches carry no records here, only offsets commit."""

    async def start(self) -> None:
        return None


class _Clients:
    def __init__(self) -> None:
        self.partitioner = MemoPartitioner()

    def output_producer(self) -> Any:
        return _Producer()

    def input_consumer(self) -> Any:
        raise AssertionError("not used")

    def admin(self) -> Any:
        raise AssertionError("not used")


async def _worker(consumer: Any) -> PipelineWorker:
    worker = PipelineWorker(
        GuardianSettings.load(None), GuardianMetrics(CollectorRegistry()), [], clients=_Clients()
    )
    await worker.delivery.start(consumer)
    return worker


async def test_a_refused_commit_is_made_again_for_the_partitions_that_come_back() -> None:
    consumer = _Consumer({T0: 100, T1: 40, T2: 70}, refuse=True)
    worker = await _worker(consumer)
    await worker.delivery.deliver([], {T0: 130, T1: 55, T2: 90})
    assert consumer.commits == []  # refused
    assert worker.refused_commits == {T0: 130, T1: 55, T2: 90}

    consumer.refuse = False
    consumer.group[T1] = 60  # another owner got further on T1 meanwhile
    seen_by_hooks: list[dict[TopicPartition, int]] = []

    async def hook(assigned: set[TopicPartition]) -> None:
        seen_by_hooks.append(dict(consumer.group))

    worker.on_assigned.append(hook)
    await worker.assignment.on_partitions_assigned({T0, T1})  # T2 went to another replica

    assert consumer.commits == [{T0: 130}]  # T1 not moved back, T2 not ours
    assert consumer.seeks == [(T0, 130)]
    assert seen_by_hooks == [{T0: 130, T1: 60, T2: 70}]  # committed before the hooks ran
    assert worker.committed[T0] == 130
    assert worker.refused_commits == {}


async def test_a_later_assignment_does_not_commit_old_refusals_again() -> None:
    consumer = _Consumer({T0: 100}, refuse=True)
    worker = await _worker(consumer)
    await worker.delivery.deliver([], {T0: 130})
    consumer.refuse = False
    await worker.assignment.on_partitions_assigned({T1})  # T0 went elsewhere: replayed there
    await worker.assignment.on_partitions_assigned({T0})  # back later: the refusal is stale
    assert consumer.commits == [] and consumer.seeks == []


class _LosingConsumer(_Consumer):
    """Lost ``T1`` in a rebalance whose revocation hook has not run yet (``owned`` still has it)."""

    def assignment(self) -> set[TopicPartition]:
        return {T0}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        if tp not in self.assignment():  # what aiokafka raises
            raise IllegalStateError(f"No current assignment for partition {tp}")
        super().seek(tp, offset)


async def test_a_failed_write_seeks_back_only_the_partitions_still_assigned() -> None:
    consumer = _LosingConsumer({T0: 100, T1: 40})
    worker = await _worker(consumer)
    worker._consumer = consumer
    worker.assignment.owned |= {T0, T1}

    async def refused(records: Any, offsets: Any) -> None:
        raise IllegalStateError("Partition is not assigned")  # the commit, after the rebalance

    async def recover() -> None:
        return None

    worker.delivery.deliver = refused  # type: ignore[method-assign]
    worker.delivery.recover = recover  # type: ignore[method-assign]
    worker._write_retry = Retrying(Backoff(0.001, 0.001))  # no wait in a unit test
    polled = {
        tp: [ConsumerRecord(tp.topic, tp.partition, o, 0, 0, None, b"{}", None, 0, 2, ())]
        for tp, o in ((T0, 100), (T1, 40))
    }
    # Before the fix: IllegalStateError from seek(T1), which stopped the worker (exit 1).
    await worker.process_batch(polled)
    assert consumer.seeks == [(T0, 100)]  # T1 is replayed by its next owner
