"""The Kafka side of ``POST /v1/detectors/backtest``: read a model's sanitized events back.

A group-less consumer reads the retention topics (``inference.sanitized.<class>``)
from ``start_ms`` to their end offsets at the time of the call, keeps the model's
events (the sanitized topics are keyed by model), and hands them, in event-time
order, to fresh detectors (:func:`detectors.drift.backtest.backtest`) in a worker
thread, so the pipeline and the API keep serving.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from detectors.drift.backtest import backtest
from service.api.errors import ApiError
from service.kafka.clients import common_options
from service.retention.topics import topic_for

if TYPE_CHECKING:
    from detectors.registry import DetectorRegistry
    from service.control.policies import LivePolicies
    from service.settings import KafkaSettings


class KafkaBacktester:
    """Implements :class:`service.api.ports.Backtester` against the live topics and specs."""

    def __init__(
        self, kafka: KafkaSettings, detectors: DetectorRegistry, policies: LivePolicies
    ) -> None:
        self.kafka = kafka
        self.detectors = detectors
        self.policies = policies

    async def backtest(
        self, model: str, start_ms: int, specs: Any | None, max_events: int, timeout_s: float
    ) -> dict[str, Any]:
        topics = [
            topic_for(name, self.kafka.topics.sanitized_prefix)
            for name in self.policies.retention.classes
        ]
        consumer = AIOKafkaConsumer(
            **common_options(self.kafka), group_id=None, enable_auto_commit=False
        )
        try:
            await consumer.start()
            events, cut = await read_events(
                consumer, topics, model, start_ms, max_events, timeout_s
            )
        except (KafkaError, TimeoutError) as exc:
            raise ApiError(503, f"backtest: Kafka unavailable ({type(exc).__name__})") from None
        finally:
            await consumer.stop()
        chosen = self.detectors.specs if specs is None else specs
        # Detectors are CPU work: off the event loop, so the pipeline and the API keep serving.
        result = await asyncio.to_thread(backtest, chosen, events, max_events=max_events)
        answer = result.as_json()
        answer["truncated"] = answer["truncated"] or cut
        return answer


def _event_ts(event: dict[str, Any], fallback_ms: int) -> float:
    try:
        stamp = str(event["timestamp"]).replace("Z", "+00:00")
        return datetime.fromisoformat(stamp).timestamp()
    except (KeyError, ValueError):
        return fallback_ms / 1000.0


async def read_events(
    consumer: AIOKafkaConsumer,
    topics: list[str],
    model: str,
    start_ms: int,
    max_events: int,
    timeout_s: float,
) -> tuple[list[tuple[dict[str, Any], float]], bool]:
    """The model's events since ``start_ms`` from ``topics``, by event time; and whether cut."""
    known = await consumer.topics()  # also loads the partition metadata
    parts = [
        TopicPartition(t, p)
        for t in topics
        if t in known
        for p in sorted(consumer.partitions_for_topic(t) or ())
    ]
    if not parts:
        return [], False
    ends = await consumer.end_offsets(parts)
    starts = await consumer.offsets_for_times(dict.fromkeys(parts, start_ms))
    first = {
        tp: found.offset
        for tp, found in starts.items()
        if found is not None and found.offset < ends[tp]
    }
    if not first:
        return [], False
    consumer.assign(list(first))
    for tp, offset in first.items():
        consumer.seek(tp, offset)
    pending = {tp: ends[tp] for tp in first}
    out: list[tuple[dict[str, Any], float]] = []
    deadline = time.monotonic() + timeout_s
    key = model.encode()
    while pending and len(out) < max_events and time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=200, max_records=5000)
        for tp, records in batch.items():
            end_offset = pending.get(tp)
            if end_offset is None:
                continue
            for rec in records:
                if rec.offset >= end_offset:
                    break
                if rec.key == key and rec.value:
                    event = orjson.loads(rec.value)
                    out.append((event, _event_ts(event, rec.timestamp)))
            if records and records[-1].offset + 1 >= end_offset:
                pending.pop(tp, None)
    out.sort(key=lambda pair: pair[1])
    return out[:max_events], bool(pending) or len(out) > max_events
