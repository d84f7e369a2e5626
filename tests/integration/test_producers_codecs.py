"""Every codec a publisher may choose decodes on input, and Guardian's outputs use the chosen one.

A zstd, lz4 or snappy publisher used to stall Guardian (aiokafka's
``UnsupportedCodecError`` retried forever): the codec libraries were missing.
Each test publishes with kcat (librdkafka, ``-z``) and with aiokafka's own
producer, runs Guardian with the same codec for its outputs, and reads those
back with kcat.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from service.demo.stream import DemoConfig, DemoStream
from tests.kafka_helpers import drain, make_settings, sanitized_topics

pytestmark = pytest.mark.integration

CODECS = ["gzip", "snappy", "lz4", "zstd"]
#: The codec ids of a record batch's attributes (Kafka's protocol).
CODEC_IDS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}

needs_kcat = pytest.mark.skipif(
    shutil.which("kcat") is None, reason="kcat missing (make tools, or apt-get install kcat)"
)


def demo_events(n: int, seed: int) -> list[bytes]:
    return [r.value for r in itertools.islice(DemoStream(DemoConfig(seed=seed)), n) if r.value]


def event_ids(values: list[bytes]) -> list[str]:
    return sorted(orjson.loads(v)["event_id"] for v in values)


def kcat_publish(bootstrap: str, topic: str, values: list[bytes], tmp: Path, *args: str) -> None:
    data = tmp / f"events-{len(list(tmp.iterdir()))}.jsonl"
    data.write_bytes(b"\n".join(values) + b"\n")
    subprocess.run(
        ["kcat", "-P", "-b", bootstrap, "-t", topic, "-l", str(data), *args],
        check=True,
        timeout=60,
        capture_output=True,
    )


def kcat_read(bootstrap: str, topics: list[str]) -> list[bytes]:
    lines: list[bytes] = []
    for topic in topics:
        result = subprocess.run(
            ["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-q", "-o", "beginning"],
            check=True,
            timeout=60,
            capture_output=True,
        )
        lines.extend(line for line in result.stdout.splitlines() if line)
    return lines


async def aiokafka_publish(bootstrap: str, topic: str, values: list[bytes], codec: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, compression_type=codec, linger_ms=20)
    await producer.start()
    try:
        futures = [await producer.send(topic, v, key=b"k") for v in values]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


# Reads topics to ``expect`` records and prints the codec of every batch it fetched. It runs
# in a process of its own: patching aiokafka's MemoryRecords in the test's process would also
# count the batches Guardian's own clients fetch meanwhile (gzip heartbeats of the fleet view,
# the input records the lag monitor reads).
_BATCH_CODECS = """
import asyncio, json, sys, time
from aiokafka import AIOKafkaConsumer
from aiokafka.consumer import fetcher
from aiokafka.record.memory_records import MemoryRecords

seen = set()


class Recording:
    def __init__(self, data):
        self._records = MemoryRecords(data)

    def __getattr__(self, name):
        return getattr(self._records, name)

    def next_batch(self):
        batch = self._records.next_batch()
        if batch is not None:
            seen.add(batch.attributes & 0x07)
        return batch


fetcher.MemoryRecords = Recording


async def main():
    bootstrap, expect, topics = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    n, deadline = 0, time.monotonic() + 60
    try:
        while n < expect and time.monotonic() < deadline:
            got = await consumer.getmany(timeout_ms=500)
            n += sum(len(records) for records in got.values())
    finally:
        await consumer.stop()
    print(json.dumps({"records": n, "codecs": sorted(seen)}))


asyncio.run(main())
"""


def batch_codecs(bootstrap: str, topics: list[str], expect: int) -> tuple[int, set[str]]:
    """Records read and the codecs of the batches that carried them."""
    done = subprocess.run(
        [sys.executable, "-c", _BATCH_CODECS, bootstrap, str(expect), *topics],
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return found["records"], {CODEC_IDS.get(c, "unknown") for c in found["codecs"]}


@needs_kcat
@pytest.mark.parametrize("codec", CODECS)
async def test_compressed_publishers_come_out_whole_and_outputs_use_the_codec(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, guardian_factory, tmp_path: Path, codec: str
) -> None:
    settings = make_settings(kafka_bootstrap, kafka={"compression_type": codec})
    guardian = await guardian_factory(settings)
    topic = settings.kafka.topics.events
    by_kcat = demo_events(40, seed=21)
    by_aiokafka = demo_events(40, seed=22)
    kcat_publish(kafka_bootstrap, topic, by_kcat, tmp_path, "-z", codec)
    await aiokafka_publish(kafka_bootstrap, topic, by_aiokafka, codec)
    sent = event_ids(by_kcat + by_aiokafka)

    out = await drain(kafka_bootstrap, sanitized_topics(settings), expect=len(sent))
    assert event_ids([m.value for m in out]) == sent
    assert guardian.metrics.registry.get_sample_value("guardian_events_consumed_total") == 80

    # librdkafka reads Guardian's compressed outputs back ...
    assert event_ids(kcat_read(kafka_bootstrap, sanitized_topics(settings))) == sent
    # ... and those outputs are batches of the chosen codec.
    records, codecs = batch_codecs(kafka_bootstrap, sanitized_topics(settings), len(sent))
    assert records == len(sent)
    assert codecs == {codec}


@needs_kcat
async def test_uncompressed_outputs_by_default(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, guardian_factory, tmp_path: Path
) -> None:
    settings = make_settings(kafka_bootstrap)
    assert settings.kafka.compression_type == "none"
    await guardian_factory(settings)
    values = demo_events(20, seed=23)
    kcat_publish(kafka_bootstrap, settings.kafka.topics.events, values, tmp_path, "-z", "zstd")
    out = await drain(kafka_bootstrap, sanitized_topics(settings), expect=len(values))
    assert event_ids([m.value for m in out]) == event_ids(values)
    records, codecs = batch_codecs(kafka_bootstrap, sanitized_topics(settings), len(values))
    assert records == len(values)
    assert codecs == {"none"}
