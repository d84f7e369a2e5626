"""Helpers shared by the resilience tests: keyed events, checkpoint reading, log waits."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from service.composition import build_guardian
from service.runtime import Guardian
from service.settings import GuardianSettings
from service.state.checkpoint import Checkpoint, CheckpointCodec, CheckpointRefused
from tests.kafka_helpers import drain

SIGNING_KEY = "resilience-test-signing-key-0123456789"
MODELS = ("credit-risk", "fraud-detect", "support-chat", "churn", "ltv", "ranker")


def event(model: str, i: int, *, event_id: str | None = None) -> bytes:
    """A small valid event with one numeric feature (so each model has an ``x`` detector)."""
    return orjson.dumps(
        {
            "schema_version": 1,
            "event_id": event_id or str(uuid.uuid4()),
            "timestamp": "2026-11-30T12:00:00.000Z",
            "model": {"name": model, "version": "1"},
            "inputs": {"features": {"x": float(i % 17)}},
            "outputs": {"prediction": i % 2, "score": 0.5},
        }
    )


def keyed_events(n: int, models: Iterable[str] = MODELS) -> list[tuple[bytes, bytes]]:
    """``n`` events round-robin over ``models``, keyed by model name (as the contract says)."""
    names = list(models)
    return [(names[i % len(names)].encode(), event(names[i % len(names)], i)) for i in range(n)]


async def produce_keyed(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, v, key=k) for k, v in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_checkpoints(
    bootstrap: str, topic: str, key: str = SIGNING_KEY
) -> list[Checkpoint | CheckpointRefused]:
    """Every record of the state topic, in order per partition, decoded (or the refusal)."""
    out: list[Checkpoint | CheckpointRefused] = []
    codec = CheckpointCodec(key.encode())
    for m in await drain(bootstrap, topic, idle_s=1.0, timeout_s=10):
        try:
            out.append(codec.decode(m.key, m.value, m.headers))
        except CheckpointRefused as exc:
            out.append(exc)
    return out


def processed(g: Guardian) -> float:
    """Events Guardian wrote to a sanitized topic, over the test models."""
    registry = g.metrics.registry
    return sum(
        registry.get_sample_value("guardian_events_processed_total", {"model": m}) or 0.0
        for m in MODELS
    )


def n_seen(cp: Checkpoint) -> int:
    return int(cp.state["state"]["n_seen"])


async def wait_for(predicate: Callable[[], Any], timeout_s: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what or predicate}")


async def committed_total(bootstrap: str, group_id: str, topic: str) -> int:
    """Sum of the group's committed offsets on ``topic`` (cheap progress probe)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group_id)
    finally:
        await admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


async def wait_committed(
    bootstrap: str, group_id: str, topic: str, at_least: int, timeout_s: float
) -> int:
    deadline = time.monotonic() + timeout_s
    done = 0
    while time.monotonic() < deadline:
        try:
            done = await committed_total(bootstrap, group_id, topic)
        except Exception:  # noqa: BLE001 - the broker may be briefly unreachable in fault tests
            done = 0
        if done >= at_least:
            return done
        await asyncio.sleep(0.2)
    raise TimeoutError(f"committed {done} < {at_least} within {timeout_s}s")


class Running:
    """An in-process Guardian running its batch loop; ``async with`` starts and stops it."""

    def __init__(self, settings: GuardianSettings) -> None:
        self.guardian = build_guardian(settings, CollectorRegistry())
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Guardian:
        await self.guardian.start()
        self.task = asyncio.create_task(self.guardian.worker.run(self.stop))
        return self.guardian

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        if self.task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.task, timeout=10)
        await self.guardian.close()
