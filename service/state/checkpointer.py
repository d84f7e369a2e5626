"""Detector state follows the detect stage's partitions: checkpoint, hand over, restore.

The detect stage reads the repartition topic, keyed by model name with Guardian's
partitioner (:mod:`service.pipeline.repartition`; with ``kafka.repartition: off``, the
input events), so each model lives on one of its partitions, the "input partitions"
below, and one replica owns its drift detectors and fairness window. This module
keeps that state with the partition:

- it tracks which models were seen on which input partition (it is the last
  stage of the chain, so it sees what the detectors saw);
- every ``checkpoint_interval_s`` (checked before a batch that fed the
  detectors commits) it queues one signed checkpoint per detector (key:
  detector id), per fairness window (key: ``fairness/<model>``) and per
  performance window with its calibrator (key: ``performance/<model>``) with
  :meth:`PipelineWorker.enqueue`, so they are written with that batch and
  acknowledged before its offsets are committed (in exactly-once mode: in the
  same transaction);
- on revocation it checkpoints the revoked partitions' models and the worker
  flushes them before the partitions leave this replica;
- on assignment (before the first batch of the new assignment) it drops the
  models of partitions that went elsewhere and restores the models of
  partitions newly assigned, from the latest checkpoint per key on the
  compacted ``guardian.state`` topic.

Checkpoints of input partition ``p`` are written to partition
``p % len(state partitions)`` of the state topic, so a replica reads only the
state partitions of the input partitions it was given, and filters by the
input partition recorded in each envelope.

Consistency: a checkpoint reflects every batch up to the offset it records.
In at-least-once mode a replica that crashes after writing outputs but before
committing replays a batch, which its detectors see again on top of the last
checkpoint; and after a crash the detectors resume from the last checkpoint,
up to ``checkpoint_interval_s`` behind the committed offsets (events in
between are not re-observed). A graceful hand-over (SIGTERM, rebalance) loses
nothing: the checkpoint is taken after the last batch committed.

Replays: a signed record can be copied and written again later. A checkpoint
older (:meth:`Checkpoint.is_older_than`) than the newest one this replica wrote
or restored for that detector, or than a newer signed record of that key read
earlier in the same restore, is refused (``refused_replay``) and restores
nothing. A replica that has never held a detector and reads a compacted topic
where only the replayed record is left cannot tell: Kafka ACLs on
``guardian.state`` are the defence there (docs/security.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from detectors.fairness.monitor import FairnessMonitor
from detectors.performance.monitor import PerformanceMonitor
from detectors.registry import DetectorRegistry
from detectors.text.statistics import TextStatistics
from service.errors import ConfigError
from service.metrics import GuardianMetrics
from service.pipeline.context import EventContext
from service.pipeline.outputs import OutputRecord
from service.settings import GuardianSettings
from service.state.checkpoint import Checkpoint, CheckpointCodec, CheckpointRefused
from service.state.reader import read_latest
from service.state.restore import (
    ALERTS_PREFIX,
    ALERTS_STATE_VERSION,
    FAIRNESS_PREFIX,
    PERFORMANCE_PREFIX,
    TEXT_PREFIX,
    Gathered,
    RestoreReport,
)

if TYPE_CHECKING:
    from service.alerting.engine import AlertEngine
    from service.pipeline.worker import PipelineWorker

log = logging.getLogger(__name__)


def owner_topic(settings: GuardianSettings) -> str:
    """The topic whose partitions own the detector state (see the module docstring)."""
    topics = settings.kafka.topics
    return topics.events if settings.kafka.repartition == "off" else topics.repartition


class Checkpointer:
    """Checkpoints and restores the detector state of the models of each input partition.

    Parameters
    ----------
    settings
        Process settings (topics, interval, Kafka options).
    registry, fairness
        The state being kept.
    metrics
        ``guardian_checkpoints_total{outcome}`` counts written, restored and refused records.
    codec
        Signs and verifies records; build it with :meth:`from_settings`.

    Examples
    --------
    >>> cp = Checkpointer.from_settings(settings, registry, fairness, metrics)  # doctest: +SKIP
    >>> stages = [validate, redact, retain, detect, cp]  # doctest: +SKIP
    >>> worker = PipelineWorker(settings, metrics, stages)  # doctest: +SKIP
    >>> cp.attach(worker)  # doctest: +SKIP
    """

    name = "checkpoint"

    def __init__(
        self,
        settings: GuardianSettings,
        registry: DetectorRegistry,
        fairness: FairnessMonitor,
        metrics: GuardianMetrics,
        codec: CheckpointCodec,
    ) -> None:
        self.settings = settings
        #: The worker whose stage this is (set by :meth:`attach`).
        self.worker: PipelineWorker | None = None
        self.registry = registry
        self.fairness = fairness
        #: Set by the composition root when performance estimation runs (windows, calibrators).
        self.performance: PerformanceMonitor | None = None
        #: Likewise for the text statistics (n-gram reference profiles, entities seen).
        self.text: TextStatistics | None = None
        #: Likewise for the alert engine: a model's active alerts move with it (no re-firing).
        self.alerts: AlertEngine | None = None
        #: Models whose last alerts checkpoint held alerts: an empty one must overwrite it.
        self._alerted: set[str] = set()
        self.metrics = metrics
        self.codec = codec
        self.interval_s = settings.state.checkpoint_interval_s
        #: The topic whose partitions the state follows: the repartition topic, where the detect
        #: stage reads each model whole (``kafka.repartition: model``), else the input events.
        self.owner_topic = owner_topic(settings)
        self._state_topic = settings.kafka.topics.state
        self._max_bytes = settings.limits.max_message_bytes
        #: input partition -> models seen on it (or restored for it)
        self.models_by_partition: dict[int, set[str]] = {}
        #: input partition -> next offset the state of its models reflects
        self.next_offset: dict[int, int] = {}
        self._last_checkpoint = time.monotonic()
        #: whether the detectors were fed since the last checkpoint
        self._fed = False
        #: partitions of the state topic, learnt at each assignment (before any batch)
        self._state_partitions = 0
        self.last_restore = RestoreReport()
        #: detector id -> position (state dropped) of the newest checkpoint written or restored
        #: here: an older one read later is a replay. Kept when a partition leaves.
        self._high_water: dict[str, Checkpoint] = {}

    @classmethod
    def from_settings(
        cls,
        settings: GuardianSettings,
        registry: DetectorRegistry,
        fairness: FairnessMonitor,
        metrics: GuardianMetrics,
    ) -> Checkpointer | None:
        """A checkpointer, or ``None`` (with one warning) when no signing key is configured.

        Unsigned state from Kafka is never trusted, and ``guardian run`` must
        work with no configuration at all, so without a key checkpointing is
        off: detectors start cold after a restart or rebalance.
        """
        key = settings.state.signing_key
        previous = [k.get_secret_value().encode() for k in settings.state.previous_signing_keys]
        if key is None:
            log.warning(
                "checkpoints disabled: set GUARDIAN_STATE__SIGNING_KEY (>= 16 bytes) so detector "
                "state survives restarts and rebalances"
            )
            metrics.checkpoints.labels("disabled").inc()
            return None
        try:
            codec = CheckpointCodec(key.get_secret_value().encode(), verify_keys=previous)
        except ValueError as exc:
            raise ConfigError(f"state.signing_key / previous_signing_keys: {exc}") from None
        return cls(settings, registry, fairness, metrics, codec)

    def attach(self, worker: PipelineWorker) -> None:
        """Take the commit and rebalance hooks of the worker whose last stage this is."""
        if not worker.stages or worker.stages[-1] is not self:
            raise ValueError("the checkpointer must be the last stage of the worker's chain")
        self.worker = worker
        worker.before_commit.append(self._before_commit)
        worker.on_revoked.append(self._on_revoked)
        worker.on_assigned.append(self._on_assigned)

    @property
    def _worker(self) -> PipelineWorker:
        assert self.worker is not None, "attach() first"
        return self.worker

    # ------------------------------------------------------------------ tracking (a stage)
    async def process(self, batch: list[EventContext]) -> None:
        """Remember which models live on which input partition."""
        by_partition = self.models_by_partition
        next_offset = self.next_offset
        for ctx in batch:
            if ctx.topic != self.owner_topic:
                continue
            self._fed = True
            if ctx.offset >= next_offset.get(ctx.partition, 0):
                next_offset[ctx.partition] = ctx.offset + 1
            if ctx.ok and ctx.model:
                models = by_partition.get(ctx.partition)
                if models is None:
                    models = by_partition[ctx.partition] = set()
                models.add(ctx.model)

    # ------------------------------------------------------------------ writing
    async def _before_commit(self) -> None:
        # Only batches that fed the detectors: with the repartition topic, the batch that
        # writes a burst's sanitized events (detectors unchanged) must not spend the interval
        # the batch that reads them back, right after, would checkpoint with.
        if self._fed and time.monotonic() - self._last_checkpoint >= self.interval_s:
            self.checkpoint(list(self.models_by_partition))

    def checkpoint(self, partitions: Iterable[int]) -> int:
        """Queue checkpoints of every model of ``partitions``; return how many records."""
        self._last_checkpoint = time.monotonic()
        self._fed = False
        n_state = self._state_partitions
        queued = 0
        created = time.time()
        for partition in partitions:
            offset = self.next_offset.get(partition, 0)
            for model in sorted(self.models_by_partition.get(partition, ())):
                records = [
                    Checkpoint(key, "drift", model, partition, offset, state, created)
                    for key, state in self.registry.export_state(
                        self.registry.ids_of_model(model)
                    ).items()
                ]
                fairness = self.fairness.export_state([model])
                if fairness["models"]:
                    records.append(
                        Checkpoint(
                            FAIRNESS_PREFIX + model,
                            "fairness",
                            model,
                            partition,
                            offset,
                            fairness,
                            created,
                        )
                    )
                records.extend(self._performance_records(model, partition, offset, created))
                records.extend(self._text_records(model, partition, offset, created))
                records.extend(self._alert_records(model, partition, offset, created))
                for cp in records:
                    queued += self._enqueue(cp, partition % n_state if n_state else None)
        return queued

    def _performance_records(
        self, model: str, partition: int, offset: int, created: float
    ) -> list[Checkpoint]:
        if self.performance is None:
            return []
        state = self.performance.export_state([model])
        if not state["windows"]:
            return []
        key = PERFORMANCE_PREFIX + model
        return [Checkpoint(key, "performance", model, partition, offset, state, created)]

    def _text_records(
        self, model: str, partition: int, offset: int, created: float
    ) -> list[Checkpoint]:
        if self.text is None:
            return []
        fields = self.text.export_state(model)
        if not fields:
            return []
        state = {"fields": fields}
        return [Checkpoint(TEXT_PREFIX + model, "text", model, partition, offset, state, created)]

    def _alert_records(
        self, model: str, partition: int, offset: int, created: float
    ) -> list[Checkpoint]:
        if self.alerts is None:
            return []
        alerts = self.alerts.export_model(model)
        if alerts:
            self._alerted.add(model)
        elif model in self._alerted:
            self._alerted.discard(model)  # written once empty, over the last one that was not
        else:
            return []
        state = {"version": ALERTS_STATE_VERSION, "alerts": alerts}
        return [
            Checkpoint(ALERTS_PREFIX + model, "alerts", model, partition, offset, state, created)
        ]

    def _enqueue(self, cp: Checkpoint, state_partition: int | None) -> int:
        value, headers = self.codec.encode(cp)
        if len(value) > self._max_bytes:
            log.warning(
                "checkpoint %s is %d bytes, over the message limit; skipped", cp.key, len(value)
            )
            self.metrics.checkpoints.labels("too_large").inc()
            return 0
        self._worker.enqueue(
            OutputRecord(
                self._state_topic,
                value,
                cp.key.encode(),
                headers,
                partition=state_partition,
                replaceable=True,
            )
        )
        self.metrics.checkpoints.labels("written").inc()
        self._raise_high_water(cp)
        return 1

    def _raise_high_water(self, cp: Checkpoint) -> None:
        held = self._high_water.get(cp.key)
        if held is None or held.is_older_than(cp):
            self._high_water[cp.key] = replace(cp, state={})

    def _replayed(self, cp: Checkpoint, newest_read: Checkpoint | None) -> bool:
        """Whether ``cp`` is older than what this replica held, or than a record read before it."""
        return any(
            ref is not None and cp.is_older_than(ref)
            for ref in (self._high_water.get(cp.key), newest_read)
        )

    # ------------------------------------------------------------------ rebalance
    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        partitions = [tp.partition for tp in revoked if tp.topic == self.owner_topic]
        if partitions:
            n = self.checkpoint(partitions)
            log.info("checkpointing %d records of revoked partitions %s", n, sorted(partitions))

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._learn_state_partitions()
        now_owned = {tp.partition for tp in assigned if tp.topic == self.owner_topic}
        kept: set[int] = set()
        for partition in list(self.models_by_partition):
            if partition in now_owned and await self._still_ours(partition):
                kept.add(partition)
            else:
                self._drop_partition(partition)
        to_restore = now_owned - kept
        if to_restore:
            self.last_restore = await self.restore(to_restore)

    async def _still_ours(self, partition: int) -> bool:
        """True when nobody else committed this partition since we last did."""
        committed = await self._worker.committed_offset(TopicPartition(self.owner_topic, partition))
        return committed is not None and committed == self.next_offset.get(partition)

    def _drop_partition(self, partition: int) -> None:
        models = self.models_by_partition.pop(partition, set())
        self.next_offset.pop(partition, None)
        for model in models:
            self.registry.drop_model(model)
            self.fairness.drop_model(model)
            if self.performance is not None:
                self.performance.drop_model(model)
            if self.text is not None:
                self.text.drop_model(model)
            if self.alerts is not None:
                self.alerts.drop_model(model)
        if models:
            log.info("dropped the detectors of %d models of partition %d", len(models), partition)

    async def _learn_state_partitions(self) -> None:
        try:
            parts = await self._worker.producer.partitions_for(self._state_topic)
        except KafkaError as exc:
            log.warning("state topic metadata unavailable: %s", exc)
            return
        self._state_partitions = len(parts)

    # ------------------------------------------------------------------ restoring
    def _admitted(
        self,
        key: bytes,
        value: bytes | None,
        headers: Any,
        where: tuple[int, set[int], int],
        newest_read: dict[Any, Any],
        report: RestoreReport,
    ) -> Checkpoint | None:
        """The checkpoint in this record if it is valid, ours and not a replay; else None."""
        state_partition, partitions, n_state = where
        try:
            cp = self.codec.decode(key, value, headers)
        except CheckpointRefused as exc:
            self.metrics.checkpoints.labels(exc.reason).inc()
            report.refused[key.decode("utf-8", "replace")] = exc.reason
            log.warning("checkpoint refused (%s): %s", exc.reason, exc.detail)
            return None
        if cp.partition not in partitions or cp.partition % n_state != state_partition:
            return None  # another partition's model, or a copy left where it no longer belongs
        if self._replayed(cp, newest_read.get((state_partition, key))):
            self.metrics.checkpoints.labels("refused_replay").inc()
            report.refused[cp.key] = "refused_replay"
            log.warning(
                "checkpoint refused (refused_replay): %s is older than the state already "
                "held or read for it",
                cp.key,
            )
            return None
        return cp

    async def restore(self, partitions: set[int], timeout_s: float = 30.0) -> RestoreReport:
        """Read the state topic to its end and restore the models of input ``partitions``."""
        report = RestoreReport()
        n_state = self._state_partitions
        wanted = sorted({p % n_state for p in partitions}) if n_state else []
        latest, newest_read = await read_latest(
            self.settings.kafka, self._state_topic, wanted, self.codec, timeout_s
        )
        gathered = Gathered()
        for (state_partition, key), (value, headers) in latest.items():
            report.records += 1
            cp = self._admitted(
                key, value, headers, (state_partition, partitions, n_state), newest_read, report
            )
            if cp is None:
                continue
            if not gathered.take(cp):
                self.metrics.checkpoints.labels("refused_malformed").inc()
                report.refused[cp.key] = "refused_malformed"
                continue
            report.models.add(cp.model)
            self._raise_high_water(cp)
            self.models_by_partition.setdefault(cp.partition, set()).add(cp.model)
            self.next_offset[cp.partition] = max(self.next_offset.get(cp.partition, 0), cp.offset)
        gathered.install(
            report,
            self.metrics,
            self.registry,
            self.fairness,
            self.performance,
            self.text,
            self.alerts,
        )
        self.metrics.checkpoints.labels("restored").inc(len(report.restored))
        log.info(
            "restored %d checkpoints of %d models for partitions %s (%d read, %d refused)",
            len(report.restored),
            len(report.models),
            sorted(partitions),
            report.records,
            len(report.refused),
        )
        return report
