"""Helpers shared by the resilience tests: keyed events, checkpoint reading, log waits."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

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


def n_seen(cp: Checkpoint) -> int:
    return int(cp.state["state"]["n_seen"])


async def wait_for(predicate: Callable[[], Any], timeout_s: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what or predicate}")
