"""Faults: the broker away for 20 s mid-stream, and a stage that raises for one event."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from service.kafka.broker import LocalBroker
from service.pipeline.context import EventContext
from tests.kafka_helpers import drain, free_port, make_settings, sanitized_topics
from tests.resilience_helpers import (
    Running,
    event,
    keyed_events,
    produce_keyed,
    wait_committed,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of this test alone: it is stopped and restarted, the session broker never is."""
    broker = LocalBroker(port=free_port(), data_dir=tmp_path / "broker")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def _readyz(client: httpx.AsyncClient) -> int:
    return (await client.get("/readyz")).status_code


@pytest.mark.slow
async def test_broker_down_for_20s_mid_stream_loses_nothing(own_broker: LocalBroker) -> None:
    bootstrap = own_broker.bootstrap
    settings = make_settings(bootstrap, kafka={"request_timeout_ms": 5000, "retry_backoff_s": 0.5})
    topics = settings.kafka.topics
    before, after = keyed_events(3000), keyed_events(1000)
    async with Running(settings) as guardian:
        transport = httpx.ASGITransport(app=guardian.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://guardian") as client:
            await wait_for(lambda: guardian.worker.ready, what="ready")
            assert await _readyz(client) == 200
            await produce_keyed(bootstrap, topics.events, before)
            await wait_committed(bootstrap, settings.kafka.group_id, topics.events, 500, 60)
            # mid-stream: part of the 3000 is still unprocessed
            await asyncio.to_thread(own_broker._run, "down")
            statuses: list[int] = []
            outage_ends = time.monotonic() + 20
            while time.monotonic() < outage_ends:
                statuses.append(await _readyz(client))
                await asyncio.sleep(0.5)
            # same port, same data dir: noida keeps topics and committed offsets
            await asyncio.to_thread(own_broker.start)
            await wait_for(lambda: guardian.worker.ready, timeout_s=60, what="ready again")
            assert await _readyz(client) == 200
            await produce_keyed(bootstrap, topics.events, after)
            await wait_committed(bootstrap, settings.kafka.group_id, topics.events, 4000, 90)
    assert 503 in statuses, "readiness must report the outage"
    out = await drain(bootstrap, sanitized_topics(settings), expect=4000, timeout_s=60)
    sent = {orjson.loads(v)["event_id"] for _, v in before + after}
    assert sent <= {orjson.loads(m.value)["event_id"] for m in out}


class _Exploding:
    """A stage with a bug that raises for one particular event."""

    name = "exploding"

    def __init__(self, poison_id: str) -> None:
        self.poison_id = poison_id
        self.seen: list[str] = []

    async def process(self, batch: list[EventContext]) -> None:
        for ctx in batch:
            if ctx.ok and ctx.event is not None:
                if ctx.event["event_id"] == self.poison_id:
                    raise ZeroDivisionError("bug")
                self.seen.append(ctx.event["event_id"])


async def test_a_stage_raising_for_one_event_dead_letters_it_and_the_rest_flow(
    kafka_bootstrap: str,
) -> None:
    settings = make_settings(kafka_bootstrap)
    topics = settings.kafka.topics
    records = [(b"m", event("m", i, event_id=f"ev-{i}")) for i in range(50)]
    exploding = _Exploding("ev-17")
    async with Running(settings) as guardian:
        # Last of the stages that run on input events (validate, redact, retain): its failure
        # dead-letters the event before any output; the detect stage runs on the repartition
        # stream (kafka.repartition: model), after the sanitized copy is written.
        guardian.worker.front.append(exploding)
        await wait_for(lambda: guardian.worker.ready, what="ready")
        await produce_keyed(kafka_bootstrap, topics.events, records)
        await wait_committed(kafka_bootstrap, settings.kafka.group_id, topics.events, 50, 30)
        rejected = guardian.metrics.registry.get_sample_value(
            "guardian_events_rejected_total", {"reason": "internal_error"}
        )
    out = await drain(kafka_bootstrap, sanitized_topics(settings), expect=49, timeout_s=20)
    dlq = await drain(kafka_bootstrap, topics.dlq, expect=1, timeout_s=20)
    assert sorted(orjson.loads(m.value)["event_id"] for m in out) == sorted(
        f"ev-{i}" for i in range(50) if i != 17
    )
    assert len(dlq) == 1 and dict(dlq[0].headers)["guardian-error"].startswith(b"internal_error")
    assert rejected == 1
