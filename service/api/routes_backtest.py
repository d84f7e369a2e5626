"""``POST /v1/detectors/backtest``: replay a model's sanitized events through a proposed config.

Operators and admins tune with evidence: the model's events since ``since``
(``"1h"`` or an ISO time) are read back from the retention topics
(``inference.sanitized.<class>``) by a group-less consumer, off the pipeline,
and fed to fresh detectors of the proposed ``detectors`` specs (the live specs
when omitted). Bounded: at most ``max_events`` events (200,000 by default) and
``timeout_s`` seconds of reading; the answer says when it was cut short.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from detectors.drift.backtest import backtest
from service.alerting.rules import parse_duration
from service.api.auth import Principal, require
from service.api.context import guardian_of
from service.api.errors import ApiError, invalid, responses
from service.control.live import ConfigInvalid, parse_specs
from service.kafka.clients import common_options
from service.retention.topics import topic_for

router = APIRouter(prefix="/v1/detectors", tags=["detectors"])


class BacktestRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "model": "credit-risk",
                    "since": "1h",
                    "detectors": {"defaults": {"numeric": [{"kind": "rank_window"}]}},
                }
            ]
        },
    )

    model: str = Field(min_length=1, max_length=256)
    since: str = Field(default="1h", min_length=1, max_length=64, description='"1h" or ISO time.')
    detectors: dict[str, Any] | None = Field(default=None, description="detectors.yaml form.")
    max_events: int = Field(default=200_000, ge=1, le=1_000_000)
    timeout_s: float = Field(default=20.0, gt=0, le=120)


class BacktestResponse(BaseModel):
    events: int
    alerts: list[dict[str, Any]]
    alarm_rate: float = Field(description="Detections per day of replayed event time.")
    span_seconds: float
    truncated: bool


def since_ms(value: str, now: float) -> int:
    """Start of the replay in ms since the epoch, from ``"1h"`` or an ISO 8601 time."""
    try:
        return max(0, int((now - parse_duration(value)) * 1000))
    except (ValueError, OverflowError):
        pass
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return max(0, int(at.timestamp() * 1000))
    except (ValueError, OverflowError, OSError):
        raise invalid([f"since: {value!r} is neither a duration (1h) nor an ISO time"]) from None


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


@router.post(
    "/backtest",
    summary="Replay a model's sanitized events through proposed detectors (operator)",
    response_model=BacktestResponse,
    responses=responses(401, 403, 422, 429, 503),
)
async def post_backtest(
    request: Request,
    body: BacktestRequest,
    _: Annotated[Principal, Depends(require("operator"))],
) -> Any:
    guardian = guardian_of(request)
    try:
        specs = guardian.detectors.specs if body.detectors is None else parse_specs(body.detectors)
    except ConfigInvalid as exc:
        raise invalid(exc.problems) from None
    settings = guardian.settings.kafka
    topics = [
        topic_for(name, settings.topics.sanitized_prefix)
        for name in guardian.retention_policy.classes
    ]
    start = since_ms(body.since, time.time())
    consumer = AIOKafkaConsumer(**common_options(settings), group_id=None, enable_auto_commit=False)
    try:
        await consumer.start()
        events, cut = await read_events(
            consumer, topics, body.model, start, body.max_events, body.timeout_s
        )
    except (KafkaError, TimeoutError) as exc:
        raise ApiError(503, f"backtest: Kafka unavailable ({type(exc).__name__})") from None
    finally:
        await consumer.stop()
    # Detectors are CPU work: off the event loop, so the pipeline and the API keep serving.
    result = await asyncio.to_thread(backtest, specs, events, max_events=body.max_events)
    answer = result.as_json()
    answer["truncated"] = answer["truncated"] or cut
    return answer
