"""Clients nobody here wrote publish to a running Guardian: every event comes out.

Per client: plain, compressed (every codec the client has), keyed and
null-keyed events, and a transactional publisher that aborts one transaction
and commits another where the client has transactions (confluent-kafka and
kafka-python; kcat has no transactional producer mode). Aborted events must
reach no output (Guardian reads ``read_committed``).

The clients are blocking: they run in a thread so the in-process Guardian's
event loop keeps consuming (and heartbeating) meanwhile.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.test_producers_codecs import demo_events, event_ids, kcat_publish
from tests.kafka_helpers import drain, make_settings, sanitized_topics

pytestmark = pytest.mark.integration

CODECS = ["gzip", "snappy", "lz4", "zstd"]


@dataclass
class Publication:
    """One run of a client: these values, this key, this codec, in a transaction or not."""

    values: list[bytes]
    key: bytes | None = None
    codec: str | None = None
    transaction: str | None = None  # "commit" | "abort"


def publications(seed: int, *, transactions: bool) -> list[Publication]:
    plan = [
        Publication(demo_events(6, seed)),  # plain, no key
        Publication(demo_events(6, seed + 1), key=b"credit-risk"),
        *[
            Publication(demo_events(5, seed + 2 + i), key=b"support-chat", codec=codec)
            for i, codec in enumerate(CODECS)
        ],
        Publication(demo_events(5, seed + 9), codec="zstd"),  # compressed, null key
    ]
    if transactions:
        plan += [
            Publication(demo_events(7, seed + 10), key=b"fraud-detect", transaction="abort"),
            Publication(demo_events(7, seed + 11), key=b"fraud-detect", transaction="commit"),
        ]
    return plan


async def assert_guardian_processes(
    kafka_bootstrap: str, guardian_factory, publish, plan: list[Publication]
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(kafka_bootstrap)
    guardian = await guardian_factory(settings)
    await asyncio.to_thread(publish, kafka_bootstrap, settings.kafka.topics.events, plan)
    expected = [v for p in plan if p.transaction != "abort" for v in p.values]
    out = await drain(kafka_bootstrap, sanitized_topics(settings), expect=len(expected))
    assert event_ids([m.value for m in out]) == event_ids(expected)
    consumed = guardian.metrics.registry.get_sample_value("guardian_events_consumed_total")
    assert consumed == len(expected)
    assert await drain(kafka_bootstrap, settings.kafka.topics.dlq, idle_s=0.5) == []


# ------------------------------------------------------------------------------- kcat
@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat missing (make tools)")
async def test_kcat(kafka_bootstrap: str, guardian_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    def publish(bootstrap: str, topic: str, plan: list[Publication]) -> None:
        for p in plan:
            args: list[str] = []
            if p.codec:
                args += ["-z", p.codec]
            if p.key is not None:
                # kcat takes the key from each line, before the delimiter
                values = [p.key + b"\t" + v for v in p.values]
                kcat_publish(bootstrap, topic, values, tmp_path, "-K", "\t", *args)
            else:
                kcat_publish(bootstrap, topic, p.values, tmp_path, *args)

    plan = publications(100, transactions=False)
    await assert_guardian_processes(kafka_bootstrap, guardian_factory, publish, plan)


# ---------------------------------------------------------------------- confluent-kafka
def _confluent_publish(bootstrap: str, topic: str, plan: list[Publication]) -> None:
    from confluent_kafka import Producer

    errors: list[str] = []

    def delivered(err, _msg) -> None:  # type: ignore[no-untyped-def]
        if err is not None:
            errors.append(str(err))

    for p in plan:
        config = {"bootstrap.servers": bootstrap, "linger.ms": 5}
        if p.codec:
            config["compression.type"] = p.codec
        if p.transaction:
            config["transactional.id"] = f"confluent-{uuid.uuid4().hex[:8]}"
        producer = Producer(config)
        if p.transaction:
            producer.init_transactions(30)
            producer.begin_transaction()
        for value in p.values:
            producer.produce(topic, value=value, key=p.key, on_delivery=delivered)
        if p.transaction == "abort":
            producer.flush(30)  # the records are in the log before the abort marker
            producer.abort_transaction(30)
        elif p.transaction == "commit":
            producer.commit_transaction(30)
        assert producer.flush(30) == 0
        assert not errors, errors


async def test_confluent_kafka(kafka_bootstrap: str, guardian_factory) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("confluent_kafka")
    plan = publications(200, transactions=True)
    await assert_guardian_processes(kafka_bootstrap, guardian_factory, _confluent_publish, plan)


# ------------------------------------------------------------------------- kafka-python
def _kafka_python_publish(bootstrap: str, topic: str, plan: list[Publication]) -> None:
    from kafka import KafkaProducer

    for p in plan:
        options: dict[str, object] = {"bootstrap_servers": bootstrap, "linger_ms": 5}
        if p.codec:
            options["compression_type"] = p.codec
        if p.transaction:
            options["transactional_id"] = f"kafka-python-{uuid.uuid4().hex[:8]}"
        producer = KafkaProducer(**options)
        try:
            if p.transaction:
                producer.init_transactions()
                producer.begin_transaction()
            futures = [producer.send(topic, value=v, key=p.key) for v in p.values]
            producer.flush(30)
            for future in futures:
                future.get(timeout=30)
            if p.transaction == "abort":
                producer.abort_transaction()
            elif p.transaction == "commit":
                producer.commit_transaction()
        finally:
            producer.close(timeout=10)


async def test_kafka_python(kafka_bootstrap: str, guardian_factory) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("kafka")
    plan = publications(300, transactions=True)
    await assert_guardian_processes(kafka_bootstrap, guardian_factory, _kafka_python_publish, plan)
