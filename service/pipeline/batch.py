"""One polled batch: its contexts and offsets, the stage runs over it, its metrics.

The consume loop (:mod:`service.pipeline.worker`) calls these in order:
:func:`read_batch`, :func:`run_stage` per stage, :func:`read_labels`, then,
after delivery, :meth:`BatchMetrics.record`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter as Tally
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from service.errors import InvalidEvent
from service.metrics import GuardianMetrics
from service.pipeline.context import EventContext
from service.pipeline.decode import decode_label
from service.pipeline.forwarded_headers import allowed
from service.pipeline.stages import Stage
from service.settings import LimitSettings

log = logging.getLogger(__name__)

_CHILD_CACHE_LIMIT = 10_000


@dataclass(slots=True)
class Batch:
    """The contexts of one poll, and per partition its first and next offsets."""

    events: list[EventContext] = field(default_factory=list)
    labels: list[EventContext] = field(default_factory=list)
    first: dict[TopicPartition, int] = field(default_factory=dict)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    #: Messages of the repartition topic (read by :mod:`service.pipeline.repartition`).
    routed: list[tuple[TopicPartition, list[Any]]] = field(default_factory=list)


def read_batch(
    polled: dict[TopicPartition, list[Any]],
    labels_topic: str,
    forward: frozenset[str],
    routed_topic: str | None = None,
) -> Batch:
    """Contexts for every polled message; allow-listed input headers kept on events.

    Messages of ``routed_topic`` (the repartition topic) are kept as they are, in ``routed``.
    """
    batch = Batch()
    events = batch.events
    for tp, messages in polled.items():
        if not messages:
            continue
        batch.first[tp] = messages[0].offset
        batch.offsets[tp] = messages[-1].offset + 1
        if tp.topic == routed_topic:
            batch.routed.append((tp, messages))
            continue
        target = batch.labels if tp.topic == labels_topic else events
        for m in messages:
            target.append(EventContext(tp.topic, tp.partition, m.offset, m.value or b"", m.key))
        if forward and target is events:
            for ctx, m in zip(target[-len(messages) :], messages, strict=True):
                if m.headers:
                    ctx.input_headers = allowed(m.headers, forward)
    return batch


async def run_stage(stage: Stage, events: list[EventContext]) -> None:
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


def read_labels(
    labels: list[EventContext],
    limits: LimitSettings,
    on_label: Callable[[dict[str, Any]], None] | None,
) -> None:
    """Decode each label; invalid ones are rejected (DLQ), valid ones go to ``on_label``."""
    for ctx in labels:
        try:
            label = decode_label(ctx.raw, limits)
        except InvalidEvent as exc:
            ctx.reject(exc.dlq_reason or "invalid_schema", exc.detail)
            continue
        if on_label is not None:
            on_label(label)


class BatchMetrics:
    """Counts a delivered batch: processed per model, rejected per reason, size and time."""

    def __init__(self, metrics: GuardianMetrics) -> None:
        self._metrics = metrics
        self._processed_children: dict[str, Any] = {}

    def record(
        self,
        events: list[EventContext],
        labels: list[EventContext],
        partitions: int,
        started: float,
    ) -> None:
        m = self._metrics
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
