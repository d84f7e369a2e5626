"""Throughput of at-least-once against exactly-once delivery, end to end.

``python -m load_tests.bench_delivery [--quick] [--n N] [--repeats R] [--max-batch B]``

Starts its own local broker (noida-db), then for each repeat and each mode
(interleaved, so machine load hits both alike) pre-produces ``N`` keyed events
to fresh topics, starts an in-process Guardian (every stage: validate, redact,
retain, detect, plus signed checkpoints every second) and times from the start
of its batch loop until every input offset is committed. Prints events/s per
run, the medians, and how much faster at-least-once is (median ratio).

What differs between the modes is only the write path: at-least-once sends
the batch's outputs, waits for the acks and commits offsets; exactly-once wraps
the same records and the offsets in a Kafka transaction (AddPartitionsToTxn,
AddOffsetsToTxn, TxnOffsetCommit, EndTxn round trips per batch) and its input
consumer reads ``read_committed``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import statistics
import time
import uuid

import orjson
from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry

from service.kafka.broker import LocalBroker
from service.settings import GuardianSettings

MODES = ("at_least_once", "exactly_once")
MODELS = ("credit-risk", "fraud-detect", "support-chat", "churn", "ltv", "ranker")


def _event(i: int) -> tuple[bytes, bytes]:
    model = MODELS[i % len(MODELS)]
    value = {
        "schema_version": 1,
        "event_id": str(uuid.uuid4()),
        "timestamp": "2026-11-30T12:00:00.000Z",
        "model": {"name": model, "version": "1"},
        "inputs": {"features": {"age": 20 + i % 50, "income": float(i % 977), "country": "DE"}},
        "outputs": {"prediction": i % 2, "score": (i % 100) / 100},
        "subject": {"protected": {"gender": "f" if i % 3 else "m"}},
    }
    return model.encode(), orjson.dumps(value)


def _settings(bootstrap: str, delivery: str, max_batch: int) -> GuardianSettings:
    tag = uuid.uuid4().hex[:10]
    topics = {
        name: f"b{tag}.{name}"
        for name in ("events", "labels", "dlq", "alerts", "config", "audit", "state")
    }
    return GuardianSettings.load(
        None,
        kafka={
            "bootstrap_servers": bootstrap,
            "group_id": f"bench-{tag}",
            "delivery": delivery,
            "poll_timeout_ms": 100,
            "max_batch": max_batch,
            "topics": {**topics, "sanitized_prefix": f"b{tag}.sanitized.", "partitions": 3},
        },
        http={"port": 0},
        state={"signing_key": "bench-delivery-signing-key-0123", "checkpoint_interval_s": 1.0},
        replica_id="bench",
    )


async def _one_run(bootstrap: str, delivery: str, n: int, max_batch: int) -> float:
    from service.composition import build_guardian

    settings = _settings(bootstrap, delivery, max_batch)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await producer.start()
    try:
        futures = [
            await producer.send(settings.kafka.topics.events, v, key=k)
            for k, v in map(_event, range(n))
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    guardian = build_guardian(settings, CollectorRegistry())
    await guardian.start()
    stop = asyncio.Event()
    task = asyncio.create_task(guardian.worker.run(stop))
    try:
        while not guardian.worker.ready:  # noqa: ASYNC110 - the group join is not timed
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        while True:
            done = sum(
                offset
                for tp, offset in guardian.worker.committed.items()
                if tp.topic == settings.kafka.topics.events
            )
            if done >= n:
                return n / (time.perf_counter() - started)
            if task.done():
                task.result()
                raise RuntimeError("the batch loop stopped early")
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=10)
        await guardian.close()


async def _bench(n: int, repeats: int, max_batch: int) -> dict[str, list[float]]:
    broker = LocalBroker(port=int(os.environ.get("BENCH_BROKER_PORT", "19391")))
    await asyncio.to_thread(broker.start)
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    try:
        for r in range(repeats):
            for mode in MODES if r % 2 == 0 else reversed(MODES):
                rate = await _one_run(broker.bootstrap, mode, n, max_batch)
                rates[mode].append(rate)
                print(f"run {r + 1}/{repeats} {mode:>13}: {rate:8.0f} events/s")
    finally:
        await asyncio.to_thread(broker.stop)
    return rates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n", type=int, default=None, help="events per run")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument(
        "--max-batch", type=int, default=1000, help="records per poll (transaction size)"
    )
    args = parser.parse_args(argv)
    n = args.n or (3_000 if args.quick else 20_000)
    repeats = args.repeats or (3 if args.quick else 5)
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    logging.basicConfig(level=logging.ERROR)
    rates = asyncio.run(_bench(n, repeats, args.max_batch))
    alo, eos = (statistics.median(rates[m]) for m in MODES)
    print(
        f"\n{n} events per run, max_batch {args.max_batch}, median of {repeats} runs "
        "(events/s, end to end)"
    )
    print(f"  at_least_once: {alo:8.0f}")
    print(f"  exactly_once:  {eos:8.0f}")
    print(f"  at-least-once is {alo / eos:.2f}x the exactly-once rate")


if __name__ == "__main__":
    main()
