"""Consumer lag per owned input partition, as this replica sees it (``guardian_consumer_lag``).

Lag is the partition's high watermark (from the consumer's last fetch) minus
the offset this replica committed (or, before its first commit, the group's
committed offset). A broker-side monitor can replace it: the worker only calls
:meth:`LagGauge.update` every health tick and :meth:`LagGauge.forget` when
partitions leave.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, Protocol

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from service.metrics import GuardianMetrics


class LagGauge(Protocol):
    """What the worker needs of a lag monitor."""

    async def update(
        self, consumer: Any, owned: set[TopicPartition], committed: Mapping[TopicPartition, int]
    ) -> None:
        """Export the lag of each ``owned`` partition."""

    def forget(self, revoked: set[TopicPartition]) -> None:
        """Stop exporting partitions that left this replica."""


class ConsumerLag:
    """:class:`LagGauge` from the input consumer's high watermarks."""

    def __init__(self, metrics: GuardianMetrics) -> None:
        self._lag = metrics.consumer_lag

    async def update(
        self, consumer: Any, owned: set[TopicPartition], committed: Mapping[TopicPartition, int]
    ) -> None:
        for tp in list(owned):
            # The assignment can change at every await below (a rebalance, a graceful stop):
            # aiokafka's highwater() asserts on a partition that is no longer assigned.
            if tp not in consumer.assignment():
                continue
            high = consumer.highwater(tp)
            if high is None:
                continue
            done = committed.get(tp)
            if done is None:
                try:
                    done = await consumer.committed(tp) or 0
                except KafkaError:
                    continue
            self._lag.labels(tp.topic, str(tp.partition)).set(max(0, high - done))

    def forget(self, revoked: set[TopicPartition]) -> None:
        for tp in revoked:
            with contextlib.suppress(KeyError):
                self._lag.remove(tp.topic, str(tp.partition))
