"""What a batch writes: sanitized events, dead letters, and records other components queue.

Every output of a batch is an :class:`OutputRecord`:

- a valid event becomes one record on its retention class's topic;
- a rejected event or label becomes one DLQ record, built by
  :func:`service.pipeline.dlq.dead_letter` (the one scrubber: nothing personal);
- an input batch skipped as undecodable becomes one DLQ record without payload;
- alerts and checkpoints come from :class:`OutputQueue`, where components put
  them between batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from service.kafka.aiokafka_compat import UndecodableBatch
from service.pipeline.context import EventContext
from service.pipeline.dlq import dead_letter
from service.pipeline.undecodable import dlq_body, dlq_headers


@dataclass(slots=True)
class OutputRecord:
    """A message some component wants written with the next batch.

    ``partition`` pins the record to one partition (``None``: by key).
    ``replaceable`` marks a record of a compacted topic: a newer replaceable
    record with the same topic and key queued before the write supersedes it,
    so a batch replayed after a failed write does not queue the same
    checkpoint twice.
    """

    topic: str
    value: bytes
    key: bytes | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    partition: int | None = None
    replaceable: bool = False


@dataclass(slots=True)
class Taken:
    """The queued records one write took: how many plain ones, which replaceable ones."""

    records: list[OutputRecord]
    pending: int
    latest: dict[tuple[str, bytes | None], OutputRecord]


class OutputQueue:
    """Records waiting to be written, and acknowledged, with the next batch.

    Components enqueue while a batch is being written (the alert engine runs in
    its own task): a write :meth:`take`\\ s what is queued, and only what it took
    leaves the queue once acknowledged (:meth:`release`).

    Examples
    --------
    >>> queue = OutputQueue()
    >>> queue.enqueue(OutputRecord("guardian.alerts", b"a"))
    >>> taken = queue.take()
    >>> queue.enqueue(OutputRecord("guardian.alerts", b"b"))  # while "a" is written
    >>> queue.release(taken)
    >>> [r.value for r in queue.take().records]
    [b'b']
    """

    def __init__(self) -> None:
        self._pending: list[OutputRecord] = []
        self._latest: dict[tuple[str, bytes | None], OutputRecord] = {}

    def enqueue(self, record: OutputRecord) -> None:
        """Queue a record to be written with the next batch."""
        if record.replaceable:
            self._latest[(record.topic, record.key)] = record
        else:
            self._pending.append(record)

    def __len__(self) -> int:
        return len(self._pending) + len(self._latest)

    def take(self) -> Taken:
        """What is queued now; it stays queued until :meth:`release`."""
        latest = dict(self._latest)
        return Taken([*self._pending, *latest.values()], len(self._pending), latest)

    def release(self, taken: Taken) -> None:
        """Drop what a written batch carried; keep what was queued or replaced meanwhile."""
        del self._pending[: taken.pending]
        for key, record in taken.latest.items():
            if self._latest.get(key) is record:
                del self._latest[key]


def batch_outputs(
    events: list[EventContext],
    labels: list[EventContext],
    queued: list[OutputRecord],
    dlq: str,
    copy: Callable[[EventContext, bytes], OutputRecord] | None = None,
) -> list[OutputRecord]:
    """``queued``, then one record per valid event and one DLQ record per rejected input.

    ``copy`` makes a second record of each sanitized event from the same bytes
    (the repartition topic's, :mod:`service.pipeline.repartition`).
    """
    records = list(queued)
    for ctx in (*events, *labels):
        if ctx.ok:
            if ctx.event is not None and ctx.output_topic:
                value = orjson.dumps(ctx.event)
                records.append(
                    OutputRecord(ctx.output_topic, value, ctx.model.encode(), ctx.headers)
                )
                if copy is not None:
                    records.append(copy(ctx, value))
            continue
        records.append(dead_letter_record(ctx, dlq))
    return records


def dead_letter_record(ctx: EventContext, dlq: str) -> OutputRecord:
    """The scrubbed DLQ record of a rejected input."""
    parsed = ctx.event if ctx.event is not None else _try_parse(ctx.raw)
    letter = dead_letter(
        reason=ctx.error or "unknown",
        detail=ctx.error_detail,
        topic=ctx.topic,
        partition=ctx.partition,
        offset=ctx.offset,
        raw=ctx.raw,
        parsed=parsed,
        key=ctx.key,
    )
    return OutputRecord(
        dlq,
        letter.value,
        letter.key,
        [("guardian-error", letter.error), ("guardian-source", ctx.where.encode())],
    )


def skipped_outputs(skipped: Iterable[UndecodableBatch], dlq: str) -> list[OutputRecord]:
    """One DLQ record (offsets and error, no payload) per input batch skipped as undecodable."""
    return [OutputRecord(dlq, dlq_body(b, "skipped"), None, dlq_headers(b)) for b in skipped]


def _try_parse(raw: bytes) -> Any | None:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
