"""Publish a :class:`DemoStream` to Kafka at a chosen rate, labels after a delay."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import sys
import time
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaProducer
from tqdm import tqdm

from service.demo.stream import DemoConfig, DemoStream


@dataclass(frozen=True)
class PublishOptions:
    bootstrap_servers: str = "127.0.0.1:9092"
    events_topic: str = "inference.events"
    labels_topic: str = "inference.labels"
    rate: float = 200.0  # events per second; 0 = as fast as possible
    count: int = 0  # 0 = until interrupted
    label_delay_s: float = 5.0
    progress: bool = True


async def publish(
    options: PublishOptions, config: DemoConfig, stop: asyncio.Event | None = None
) -> int:
    """Publish events (and their labels later); return how many events were sent."""
    stop = stop or asyncio.Event()
    producer = AIOKafkaProducer(
        bootstrap_servers=options.bootstrap_servers, linger_ms=5, enable_idempotence=True
    )
    await producer.start()
    pending_labels: list[tuple[float, int, bytes, bytes]] = []
    sent = 0
    bar = tqdm(
        total=options.count or None,
        unit="ev",
        disable=not options.progress or not sys.stderr.isatty(),
        desc="publish-demo",
    )
    started = time.monotonic()
    futures = []
    try:
        records = DemoStream(config)
        iterator = iter(records)
        for record in itertools.islice(iterator, options.count or None):
            if stop.is_set():
                break
            if options.rate > 0:
                due = started + sent / options.rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            futures.append(await producer.send(options.events_topic, record.value, key=record.key))
            if record.label is not None:
                heapq.heappush(
                    pending_labels,
                    (
                        time.monotonic() + options.label_delay_s,
                        record.index,
                        record.key,
                        orjson.dumps(record.label),
                    ),
                )
            now = time.monotonic()
            while pending_labels and pending_labels[0][0] <= now:
                _, _, key, value = heapq.heappop(pending_labels)
                futures.append(await producer.send(options.labels_topic, value, key=key))
            sent += 1
            bar.update(1)
            if len(futures) >= 5000:
                await asyncio.gather(*futures)
                futures.clear()
        # Remaining labels: wait out their delay unless asked to stop.
        while pending_labels and not stop.is_set():
            due, _, key, value = heapq.heappop(pending_labels)
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            futures.append(await producer.send(options.labels_topic, value, key=key))
        await asyncio.gather(*futures)
    finally:
        bar.close()
        await producer.stop()
    return sent
