"""Publish → sanitized latency at fixed rates, stepping up until Guardian saturates.

    python -m load_tests.bench_latency [--rates 200 1000 5000 10000 15000 20000 30000]
                                       [--seconds 10] [--quick]

A real ``guardian run`` process (default config) consumes a fresh input
topic. For each rate, structured demo events are published at that rate for
``--seconds``; each carries its publish time in ``metadata.sent_at`` (Unix
seconds; numbers are not scanned for PII). A consumer on every sanitized
topic records, per event, *received − sent_at* (what a downstream user sees:
includes Guardian's batch, the output ack, and the observer's own poll) and
*output timestamp − sent_at* (the Kafka timestamp Guardian's producer stamped
on the sanitized record). p50/p99 of both are reported per rate.

A rate counts as sustained when every event arrived and p99 stayed under
``--max-p99`` seconds; the saturation point is the first rate that is not
(the last sustained rate is reported alongside it). The baseline is the
publisher's own achieved rate at that step: a step the publisher could not
drive is marked publisher-bound instead of being blamed on Guardian. The
publisher and the observer share one process, on the same cores as Guardian
and the broker.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from typing import Any

import orjson

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from load_tests import harness
from load_tests.replicas import Replica
from load_tests.workload import demo_records

TICK_S = 0.01


async def _observer(
    bootstrap: str, topics: list[str], expect: int, done: asyncio.Event, out: list[Any]
) -> None:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = await harness.topic_partitions(consumer, topics)
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        for tp, offset in ends.items():
            consumer.seek(tp, offset)
        done.set()  # positioned: the publisher may start
        while len(out) < expect:
            batch = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for messages in batch.values():
                for m in messages:
                    sent = orjson.loads(m.value)["metadata"]["sent_at"]
                    out.append((now - sent, m.timestamp / 1000 - sent))
    finally:
        await consumer.stop()


async def _publish(
    bootstrap: str, topic: str, templates: list[dict[str, Any]], rate: int, seconds: float
) -> tuple[int, float]:
    from aiokafka import AIOKafkaProducer

    from service.kafka.clients import BatchWriter, MemoPartitioner
    from service.pipeline.worker import OutputRecord

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1, acks=1)
    await producer.start()
    # What is due each tick goes out as one record batch per partition: a publisher that
    # sends message by message tops out near 10k events/s here, below Guardian.
    writer = BatchWriter(MemoPartitioner(), 1_048_576)
    total = int(rate * seconds)
    sent = 0
    futures = []
    started = time.monotonic()
    try:
        while sent < total:
            due = int((time.monotonic() - started) * rate) + 1
            records = []
            for _ in range(min(due, total) - sent):
                event = dict(templates[sent % len(templates)])
                event["event_id"] = str(uuid.uuid4())
                event["metadata"] = {"sent_at": time.time()}
                key = event["model"]["name"].encode()
                records.append(OutputRecord(topic, orjson.dumps(event), key))
                sent += 1
            futures.extend(await writer.send(producer, records))
            await asyncio.sleep(TICK_S)
        await asyncio.gather(*futures)
        elapsed = time.monotonic() - started
    finally:
        await producer.stop()
    return sent, sent / elapsed


async def _step(
    bootstrap: str,
    kafka: dict[str, Any],
    sanitized: list[str],
    templates: list[dict[str, Any]],
    rate: int,
    seconds: float,
    max_p99: float,
) -> dict[str, Any]:
    total = int(rate * seconds)
    seen: list[tuple[float, float]] = []
    positioned = asyncio.Event()
    observer = asyncio.create_task(_observer(bootstrap, sanitized, total, positioned, seen))
    await positioned.wait()
    sent, publish_rate = await _publish(
        bootstrap, kafka["topics"]["events"], templates, rate, seconds
    )
    try:
        await asyncio.wait_for(observer, timeout=max(15.0, 3 * max_p99))
    except TimeoutError:
        pass  # incomplete: recorded as not sustained
    e2e = [a for a, _ in seen]
    stamped = [b for _, b in seen]
    p99 = harness.percentile(e2e, 99)
    publisher_bound = publish_rate < 0.9 * rate
    sustained = len(seen) >= sent and p99 <= max_p99 and not publisher_bound
    return {
        "rate": rate,
        "sent": sent,
        "received": len(seen),
        "publish_rate": round(publish_rate, 1),
        "p50_ms": round(harness.percentile(e2e, 50) * 1000, 1),
        "p99_ms": round(p99 * 1000, 1),
        "p50_output_stamp_ms": round(harness.percentile(stamped, 50) * 1000, 1),
        "p99_output_stamp_ms": round(harness.percentile(stamped, 99) * 1000, 1),
        "publisher_bound": publisher_bound,
        "sustained": sustained,
    }


async def _main(args: argparse.Namespace, bootstrap: str) -> dict[str, Any]:
    from service.retention import RetentionSettings

    templates = [orjson.loads(v) for _, v in demo_records(500, seed=args.seed)]
    steps: list[dict[str, Any]] = []
    kafka = harness.unique_kafka(bootstrap)
    classes = RetentionSettings().load_policy().classes
    sanitized = [f"{kafka['topics']['sanitized_prefix']}{c}" for c in classes]
    replica = Replica(kafka)
    try:
        await replica.wait_ready()
        # Warm-up: detectors, caches and the group settle before the first measured step.
        await _step(bootstrap, kafka, sanitized, templates, 200, 2.0, args.max_p99)
        for rate in args.rates:
            step = await _step(
                bootstrap, kafka, sanitized, templates, rate, args.seconds, args.max_p99
            )
            steps.append(step)
            harness.progress(
                f"{rate:>6} ev/s: p50 {step['p50_ms']:8.1f} ms  p99 {step['p99_ms']:8.1f} ms  "
                f"received {step['received']}/{step['sent']}  "
                f"publisher {step['publish_rate']:.0f} ev/s"
            )
            if not step["sustained"]:
                break
    finally:
        replica.stop()
    sustained = [s["rate"] for s in steps if s["sustained"]]
    saturated = next((s for s in steps if not s["sustained"]), None)
    return {
        "steps": steps,
        "seconds_per_step": args.seconds,
        "max_p99_s": args.max_p99,
        "last_sustained_rate": max(sustained) if sustained else None,
        "saturation_rate": saturated["rate"] if saturated else None,
        "saturation_cause": (
            None
            if saturated is None
            else "publisher could not drive the rate"
            if saturated["publisher_bound"]
            else "guardian fell behind (events late or missing)"
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=None)
    parser.add_argument("--seconds", type=float, default=None, help="per rate (default 10)")
    parser.add_argument("--max-p99", type=float, default=2.0, help="seconds; above = saturated")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="200 and 1000 ev/s, 3 s each")
    args = parser.parse_args(argv)
    args.rates = args.rates or (
        [200, 1000] if args.quick else [200, 1000, 5000, 10000, 15000, 20000, 30000]
    )
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    print(
        f"latency: rates {args.rates} ev/s, {args.seconds:g} s each, one `guardian run` replica, "
        f"cores {os.cpu_count()}, broker {harness.broker_description()}"
    )
    with harness.BenchBroker() as bootstrap:
        r = asyncio.run(_main(args, bootstrap))
    print("   rate   publisher   received     p50 ms     p99 ms  (output stamp p50/p99 ms)")
    for s in r["steps"]:
        flag = "" if s["sustained"] else "  <- saturated"
        print(
            f"  {s['rate']:>5}  {s['publish_rate']:>9.0f}  {s['received']:>6}/{s['sent']:<6} "
            f"{s['p50_ms']:>8.1f}  {s['p99_ms']:>9.1f}  ({s['p50_output_stamp_ms']:.1f}/"
            f"{s['p99_output_stamp_ms']:.1f}){flag}"
        )
    print(f"last sustained rate : {r['last_sustained_rate']} ev/s (p99 <= {args.max_p99:g} s)")
    print(f"saturation point    : {r['saturation_rate']} ev/s ({r['saturation_cause']})")
    harness.emit("bench_latency", r)


if __name__ == "__main__":
    main()
