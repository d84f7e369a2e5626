"""Records enqueued while a batch is being written are kept for the next batch.

The alert engine runs in its own task and hands its state changes to
``PipelineWorker.enqueue``; a change queued while the previous batch's outputs
are in flight must not be dropped when that batch is acknowledged. (Found by
``tests/e2e/test_e2e_alerts.py``: the ``firing`` record of a drift alert raised
under load never reached ``guardian.alerts``.)
"""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CollectorRegistry

from service.kafka.clients import MemoPartitioner
from service.metrics import GuardianMetrics
from service.pipeline.outputs import OutputRecord
from service.pipeline.worker import PipelineWorker
from service.settings import GuardianSettings


class _Batch:
    def __init__(self) -> None:
        self.values: list[bytes] = []

    def append(self, *, value: bytes, **_: Any) -> object:
        self.values.append(value)
        return object()

    def close(self) -> None:
        return None


class _Cluster:
    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    available_partitions_for_topic = partitions_for_topic


class _SlowProducer:
    """Acknowledges batches only when ``release`` is set, recording what was sent.

    It has the part of AIOKafkaProducer's batch API the worker's BatchWriter uses.
    """

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.sending = asyncio.Event()
        self.started = False
        self.release = asyncio.Event()
        self.client = type("Client", (), {"cluster": _Cluster()})()

    async def start(self) -> None:
        self.started = True

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(
        self, batch: _Batch, topic: str, *, partition: int
    ) -> asyncio.Future[None]:
        self.sent.extend(batch.values)
        self.sending.set()
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def acknowledge() -> None:
            await self.release.wait()
            ack.set_result(None)

        asyncio.get_running_loop().create_task(acknowledge())
        return ack


class _Consumer:
    async def commit(self, offsets: Any) -> None:
        return None


class _Clients:
    """The worker's client factory, handing out the fakes above."""

    def __init__(self, producer: _SlowProducer) -> None:
        self.partitioner = MemoPartitioner()
        self._producer = producer

    def output_producer(self) -> Any:
        return self._producer

    def input_consumer(self) -> Any:
        return _Consumer()

    def admin(self) -> Any:
        raise AssertionError("not used")


async def test_record_enqueued_during_a_write_is_written_with_the_next_batch() -> None:
    producer = _SlowProducer()
    worker = PipelineWorker(
        GuardianSettings.load(None),
        GuardianMetrics(CollectorRegistry()),
        [],
        clients=_Clients(producer),
    )
    await worker.delivery.start(_Consumer())

    worker.enqueue(OutputRecord("guardian.alerts", b"first"))
    batch = asyncio.create_task(worker.process_batch({}))
    await asyncio.wait_for(producer.sending.wait(), timeout=5)
    worker.enqueue(OutputRecord("guardian.alerts", b"second"))  # while "first" is in flight
    producer.release.set()
    await asyncio.wait_for(batch, timeout=5)

    assert producer.sent == [b"first"]
    assert [r.value for r in worker.outputs.take().records] == [b"second"]
    await asyncio.wait_for(worker.process_batch({}), timeout=5)
    assert producer.sent == [b"first", b"second"]
    assert worker.queued == 0
