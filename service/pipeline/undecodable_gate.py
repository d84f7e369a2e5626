"""Between polls: what the input consumer could not decode is fetched again, skipped or stopped.

The consumer's fetcher reports each undecodable record batch
(:func:`service.kafka.aiokafka_compat.guard_undecodable`);
:class:`~service.pipeline.undecodable.UndecodablePolicy` decides; this gate
carries the decision out on the consumer: a skipped range is sought past and
committed with the next batch (replayed if that batch fails), a stopped
partition is paused and reported by readiness until it leaves this replica.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import TopicPartition

from service.kafka.aiokafka_compat import UndecodableBatch, UndecodableBatches, guard_undecodable
from service.metrics import GuardianMetrics
from service.pipeline.undecodable import UndecodableHook, UndecodablePolicy

log = logging.getLogger(__name__)


class UndecodableGate:
    """Applies ``kafka.on_undecodable`` to what the input consumer could not decode."""

    def __init__(self, policy: UndecodablePolicy, metrics: GuardianMetrics) -> None:
        self._policy = policy
        self._metrics = metrics
        #: Told of every input batch skipped or stopped as undecodable (the alert engine).
        self.hooks: list[UndecodableHook] = []
        #: Partitions paused by ``on_undecodable=stop``, with the reason readiness shows.
        self.stopped: dict[TopicPartition, str] = {}
        self._consumer: Any = None
        self._found: UndecodableBatches | None = None

    def watch(self, consumer: Any) -> None:
        """Have a started consumer report undecodable batches here instead of raising them."""
        self._consumer = consumer
        self._found = guard_undecodable(consumer)

    def judge(self, owned: set[TopicPartition]) -> list[UndecodableBatch]:
        """Batches found since the last poll: the ones to skip (stopped ones are paused here)."""
        assert self._found is not None, "watch() first"
        skips = []
        for found, fetches in self._found.take():
            verdict = self._policy.judge(found, fetches)
            if verdict.decision == "skip":
                skips.append(found)
            elif verdict.decision == "stop" and found.tp in owned:
                self._consumer.pause(found.tp)
                self.stopped[found.tp] = (
                    f"{found.where}: cannot be decoded ({found.error}); "
                    "partition stopped (kafka.on_undecodable=stop)"
                )
                log.error("stopping %s", self.stopped[found.tp])
                self.report(found, "stopped")
        return skips

    def skip(
        self,
        skips: list[UndecodableBatch],
        owned: set[TopicPartition],
        first: dict[TopicPartition, int],
        offsets: dict[TopicPartition, int],
    ) -> list[UndecodableBatch]:
        """Move past each skipped range: it is committed with this batch (replayed if it fails)."""
        skipped = []
        for b in skips:
            if b.tp not in owned:  # revoked meanwhile: its new owner decides
                continue
            self._consumer.seek(b.tp, b.last + 1)
            first[b.tp] = min(first.get(b.tp, b.first), b.first)
            offsets[b.tp] = max(offsets.get(b.tp, 0), b.last + 1)
            skipped.append(b)
        return skipped

    def report(self, batch: UndecodableBatch, action: str) -> None:
        self._metrics.undecodable_batches.labels(batch.tp.topic, action).inc()
        for hook in self.hooks:
            hook(batch, action)

    def release(self, revoked: set[TopicPartition]) -> None:
        """Partitions that left: the next owner meets the batch and decides itself."""
        for tp in revoked:
            self.stopped.pop(tp, None)
