"""Kafka helpers shared by the integration tests: unique names, produce, drain, run Guardian."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from service.kafka.broker import LOCAL_BROKER_KAFKA
from service.settings import GuardianSettings, TopicSettings

ROOT = Path(__file__).resolve().parents[1]
#: Config signing keys of the test replicas (``control`` settings).
CONTROL_KEYS = {
    "signing_keys": {"test-k1": "test-config-signing-key-0123456789"},
    "active_signing_key": "test-k1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique_topics(prefix: str | None = None) -> dict[str, Any]:
    """Topic and group names no other test shares (never rely on broker state)."""
    tag = prefix or uuid.uuid4().hex[:10]
    return {
        "group_id": f"guardian-{tag}",
        "topics": {
            "events": f"t{tag}.inference.events",
            "labels": f"t{tag}.inference.labels",
            "sanitized_prefix": f"t{tag}.inference.sanitized.",
            "dlq": f"t{tag}.guardian.dlq",
            "alerts": f"t{tag}.guardian.alerts",
            "config": f"t{tag}.guardian.config",
            "audit": f"t{tag}.guardian.audit",
            "state": f"t{tag}.guardian.state",
            "membership": f"t{tag}.guardian.membership",
            "repartition": f"t{tag}.guardian.repartition",
            "partitions": 3,
        },
    }


def make_settings(bootstrap: str, **overrides: Any) -> GuardianSettings:
    names = unique_topics()
    kafka = {
        # The local-broker profile, unless the tests run against a real Kafka.
        **({} if os.environ.get("GUARDIAN_TEST_BOOTSTRAP") else LOCAL_BROKER_KAFKA),
        "bootstrap_servers": bootstrap,
        "poll_timeout_ms": 100,
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 500,
        **names,
        **overrides.pop("kafka", {}),
    }
    http = {"port": free_port(), **overrides.pop("http", {})}
    # Replicas of one test share a config signing key, as a deployment's replicas must.
    control = overrides.pop("control", CONTROL_KEYS)
    return GuardianSettings.load(None, kafka=kafka, http=http, control=control, **overrides)


def settings_env(settings: GuardianSettings) -> dict[str, str]:
    """Environment that makes a `guardian run` subprocess use the same settings."""
    t = settings.kafka.topics
    env = {
        **os.environ,
        "GUARDIAN_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "GUARDIAN_KAFKA__GROUP_ID": settings.kafka.group_id,
        "GUARDIAN_KAFKA__DELIVERY": settings.kafka.delivery,
        "GUARDIAN_KAFKA__POLL_TIMEOUT_MS": "100",
        "GUARDIAN_KAFKA__SESSION_TIMEOUT_MS": "6000",
        "GUARDIAN_KAFKA__HEARTBEAT_INTERVAL_MS": "500",
        "GUARDIAN_KAFKA__EMPTY_FETCH_BACKOFF_MS": str(settings.kafka.empty_fetch_backoff_ms),
        "GUARDIAN_HTTP__PORT": str(settings.http.port),
        "PYTHONPATH": str(ROOT),
    }
    for field in TopicSettings.model_fields:
        if field in ("partitions", "replication_factor"):
            continue
        env[f"GUARDIAN_KAFKA__TOPICS__{field.upper()}"] = getattr(t, field)
    env["GUARDIAN_KAFKA__TOPICS__PARTITIONS"] = str(t.partitions)
    control = settings.control
    if control.active_signing_key is not None:
        env["GUARDIAN_CONTROL__ACTIVE_SIGNING_KEY"] = control.active_signing_key
        env["GUARDIAN_CONTROL__SIGNING_KEYS"] = json.dumps(
            {kid: key.get_secret_value() for kid, key in control.signing_keys.items()}
        )
    return env


def start_guardian_process(settings: GuardianSettings, **extra_env: str) -> subprocess.Popen[bytes]:
    """`guardian run` in a subprocess; its log goes to a file (a pipe could fill and block it).

    Read the log with :func:`process_log`.
    """
    import tempfile

    log = tempfile.NamedTemporaryFile(prefix="guardian-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "run"],
        env={**settings_env(settings), **extra_env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    log.close()
    proc.log_path = log.name  # type: ignore[attr-defined]
    return proc


def process_log(proc: subprocess.Popen[bytes]) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


async def wait_ready(port: int, timeout_s: float = 90.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                r = await client.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"Guardian on port {port} not ready within {timeout_s}s")


async def produce(
    bootstrap: str, topic: str, values: Iterable[bytes], key: bytes | None = None
) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, v, key=key) for v in values]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(futures)


def sanitized_topics(settings: GuardianSettings) -> list[str]:
    """Every per-class sanitized topic of the shipped retention policy."""
    from service.retention import RetentionSettings

    policy = RetentionSettings().load_policy()
    return [f"{settings.kafka.topics.sanitized_prefix}{name}" for name in policy.classes]


async def drain(
    bootstrap: str,
    topic: str | list[str],
    *,
    expect: int | None = None,
    timeout_s: float = 30.0,
    idle_s: float = 2.0,
    isolation_level: str = "read_uncommitted",
) -> list[Any]:
    """Read a topic from the beginning until ``expect`` messages or ``idle_s`` without new ones."""
    topics = [topic] if isinstance(topic, str) else topic
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level=isolation_level,
    )
    await consumer.start()
    out: list[Any] = []
    deadline = time.monotonic() + timeout_s
    last_new = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                out.extend(messages)
            if batch:
                last_new = time.monotonic()
            if expect is not None and len(out) >= expect:
                # Keep reading briefly so duplicates or extras are seen too.
                if time.monotonic() - last_new > 0.5:
                    break
            elif expect is None and time.monotonic() - last_new > idle_s:
                break
    finally:
        await consumer.stop()
    return out


async def wait_detected(settings: GuardianSettings, timeout_s: float = 120.0) -> None:
    """Wait until the group has read its repartition topic to the end (issue 19).

    With ``kafka.repartition: model`` a sanitized output is visible one hop before
    the detectors see the event (they read it back from the repartition topic);
    call this after the outputs are drained and before asserting on detector state
    or stopping a replica whose checkpoints a test reads. No-op with ``off``.
    """
    from aiokafka.admin import AIOKafkaAdminClient

    kafka = settings.kafka
    if kafka.repartition == "off":
        return
    topic = kafka.topics.repartition
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await consumer.start()
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            parts = consumer.partitions_for_topic(topic) or set()
            if not parts:
                await consumer.topics()  # refresh metadata
                parts = consumer.partitions_for_topic(topic) or set()
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
            committed = await admin.list_consumer_group_offsets(kafka.group_id)
            done = {tp: m.offset for tp, m in committed.items() if tp.topic == topic}
            behind = [tp for tp, end in ends.items() if end > max(done.get(tp, 0), 0)]
            if parts and not behind:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"group {kafka.group_id} did not read {topic} to its end")
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()
        await admin.close()
