"""Each model whole, on one owner: the detect stage reads a stream keyed by model (issue 19).

Publishers do not all key by model name with murmur2: unkeyed events land on
any partition, and librdkafka clients (kcat, confluent-kafka) hash keys with
CRC32, so one model's events can spread over several input partitions, and so
over several replicas, each with its own detectors and fairness window for it.

With ``kafka.repartition: model`` (the default) the chain is cut in two, as a
Kafka Streams sub-topology is, inside the one consume loop and consumer group:

- records of ``topics.events`` run the *front* stages (validate → redact →
  retain); each sanitized event is written, besides its retention topic, to
  ``topics.repartition`` keyed by model name, placed by Guardian's own
  partitioner (:class:`service.kafka.clients.MemoPartitioner`, murmur2), with
  its event time in a header; valid labels of ``topics.labels`` are written
  there too, keyed by ``model.name``;
- records of ``topics.repartition`` skip the front and run the *back* stages
  (detect → checkpointer), then their labels go to the label join.

So every record of one model reaches one partition of the repartition topic
and one replica; detector state and checkpoints follow those partitions (the
checkpointer's owner topic). The repartition records and the input offsets go
out in the same delivery unit (one transaction with ``exactly_once``). Only
sanitized events, never raw input, are written there: the detectors see what
they saw before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import TopicPartition

from service.pipeline.batch import Batch, read_labels, run_stage
from service.pipeline.context import EventContext
from service.pipeline.outputs import OutputRecord
from service.pipeline.stages import Stage
from service.settings import LimitSettings

#: ``event`` or ``label``: what a repartition record carries.
HEADER_KIND = "guardian-route"
#: The event time (Unix seconds, ``repr`` of the float) the retain stage parsed.
HEADER_TS = "guardian-event-ts"
_EVENT, _LABEL = b"event", b"label"
#: DLQ reason of a repartition record that cannot be read back (not written by Guardian).
UNREADABLE = "unreadable_repartition_record"


@dataclass(slots=True)
class Routed:
    """What one poll of the repartition topic holds: contexts for the back stages, labels.

    Every record has a context, labels too (no event, their model set), so the
    checkpointer sees each offset of the partitions it keeps state for.
    """

    contexts: list[EventContext] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)


class Repartition:
    """Where the stage chain is cut and how records cross the repartition topic.

    Parameters
    ----------
    topic
        ``topics.repartition``.
    detect_from
        Index of the first stage of the chain that runs on the repartition stream
        (the stages before it run on the input events).

    Examples
    --------
    >>> r = Repartition("guardian.repartition", detect_from=3)
    >>> ctx = EventContext("inference.events", 0, 5, b"", model="m", output_topic="o")
    >>> ctx.event, ctx.ts = {"model": {"name": "m", "version": "1"}}, 1.5
    >>> rec = r.event_record(ctx, b'{"model":{"name":"m","version":"1"}}')
    >>> rec.topic, rec.key, rec.headers
    ('guardian.repartition', b'm', [('guardian-route', b'event'), ('guardian-event-ts', b'1.5')])
    """

    def __init__(self, topic: str, detect_from: int) -> None:
        self.topic = topic
        self.detect_from = detect_from

    # ------------------------------------------------------------------ writing
    def event_record(self, ctx: EventContext, value: bytes) -> OutputRecord:
        """The repartition copy of a sanitized event (``value``: its sanitized bytes)."""
        headers = [(HEADER_KIND, _EVENT)]
        if ctx.ts is not None:
            headers.append((HEADER_TS, repr(ctx.ts).encode()))
        return OutputRecord(self.topic, value, ctx.model.encode(), headers)

    def label_records(self, labels: Iterable[dict[str, Any]]) -> list[OutputRecord]:
        """Validated labels, keyed by their model name."""
        return [
            OutputRecord(
                self.topic,
                orjson.dumps(label),
                str(label["model"]["name"]).encode(),
                [(HEADER_KIND, _LABEL)],
            )
            for label in labels
        ]

    # ------------------------------------------------------------------ reading
    def read(self, polled: Iterable[tuple[TopicPartition, list[Any]]]) -> Routed:
        """Events (contexts ready for the detect stage) and labels of repartition records.

        A record that cannot be read back becomes a rejected context (DLQ,
        scrubbed like any other); nothing here raises for one record.
        """
        routed = Routed()
        for tp, messages in polled:
            for m in messages:
                kind, ts = _route_headers(m.headers)
                ctx = EventContext(tp.topic, tp.partition, m.offset, m.value or b"", m.key)
                try:
                    value = orjson.loads(ctx.raw)
                    if kind == _LABEL:
                        _ = value["event_id"], value["label"]
                        ctx.model = str(value["model"]["name"])
                        routed.labels.append(value)
                        routed.contexts.append(ctx)
                        continue
                    model = value["model"]
                    ctx.model, ctx.version = str(model["name"]), str(model["version"])
                    ctx.ts = float(ts) if ts is not None else None
                    ctx.event = value
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                    ctx.reject(UNREADABLE, f"repartition record: {type(exc).__name__}")
                routed.contexts.append(ctx)
        return routed


async def route(
    batch: Batch,
    router: Repartition | None,
    back: Sequence[Stage],
    limits: LimitSettings,
    on_label: Callable[[dict[str, Any]], None] | None,
) -> tuple[list[OutputRecord], list[EventContext]]:
    """The labels of one poll, and its repartition records through the ``back`` stages.

    Without a router, valid labels go to ``on_label`` (the join) at once. With one,
    they become repartition records; the records read back from the repartition
    topic run the back stages, then their labels go to ``on_label``. Returns the
    records to write with the batch and the repartition stream's contexts (their
    rejects are dead-lettered with the batch).
    """
    if router is None:
        read_labels(batch.labels, limits, on_label)
        return [], []
    forwarded: list[dict[str, Any]] = []
    read_labels(batch.labels, limits, forwarded.append)
    routed = router.read(batch.routed)
    if routed.contexts:
        for stage in back:
            await run_stage(stage, routed.contexts)
    if on_label is not None:
        for label in routed.labels:
            on_label(label)
    return router.label_records(forwarded), routed.contexts


def _route_headers(headers: Any) -> tuple[bytes | None, bytes | None]:
    kind = ts = None
    for name, value in headers or ():
        if name == HEADER_KIND:
            kind = value
        elif name == HEADER_TS:
            ts = value
    return kind, ts
