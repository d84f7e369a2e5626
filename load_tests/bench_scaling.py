"""Throughput with 1 and 2 replicas in one group; cost per event vs features and vs models.

    python -m load_tests.bench_scaling [--n 20000] [--repeats 3] [--quick]

**Replicas.** ``guardian run`` subprocesses (static members, distinct
``GUARDIAN_REPLICA_ID``) share one consumer group on a fresh 6-partition input
topic. Once every replica is ready (``/readyz``: partitions assigned), N
structured events of 60 models (keys spread over the partitions) are published
as fast as the client allows, and the clock runs from the first send until the
group's committed offsets reach N (polled through the admin API, from
outside). The baseline is the publisher alone into an idle topic, in the same
run; with 2 cores shared by the broker, the publisher and the replicas, two
replicas cannot double a CPU-bound pipeline — the figure shows what a second
replica buys here.

**Cost vs shape.** In-process (stages fed directly, no Kafka), CPU time per
event of the whole batch work for 5…100 features per event (10 models) and for
1…1,000 models (10 features). Beyond ``limits.max_models`` (200 by default)
models get no drift detectors, which is why cost flattens there.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import time
import uuid
from typing import Any

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from load_tests import harness
from load_tests.replicas import Replica
from load_tests.workload import StageDriver, wide_events

PARTITIONS = 6
MODELS = 60


async def _replicas_run(bootstrap: str, replicas: int, records: list[tuple[bytes, bytes]]) -> float:
    kafka = harness.unique_kafka(bootstrap, partitions=PARTITIONS)
    tag = uuid.uuid4().hex[:6]
    procs = [Replica(kafka, replica_id=f"bench-{tag}-{i}") for i in range(replicas)]
    try:
        await asyncio.gather(*(p.wait_ready() for p in procs))
        await asyncio.sleep(1.0)  # let the group settle after the last join
        topic = kafka["topics"]["events"]
        async with harness.CommitWatcher(bootstrap, kafka["group_id"], topic) as watcher:
            started = time.monotonic()
            await harness.produce_all(bootstrap, topic, records)
            finished = await watcher.wait_for(
                len(records), timeout_s=max(120.0, len(records) / 100)
            )
        return len(records) / (finished - started)
    finally:
        for p in procs:
            p.stop()


async def _publisher_alone(bootstrap: str, records: list[tuple[bytes, bytes]]) -> float:
    topic = f"b{uuid.uuid4().hex[:8]}.publisher-only"
    await harness.create_topic(bootstrap, topic, PARTITIONS)
    started = time.monotonic()
    await harness.produce_all(bootstrap, topic, records)
    return len(records) / (time.monotonic() - started)


async def _replica_scaling(bootstrap: str, n: int, repeats: int) -> dict[str, Any]:
    records = list(wide_events(n, models=MODELS, features=5, seed=3))
    runs: dict[str, list[float]] = {"publisher": [], "1": [], "2": []}
    for r in range(repeats):
        runs["publisher"].append(await _publisher_alone(bootstrap, records))
        for replicas in (1, 2) if r % 2 == 0 else (2, 1):
            rate = await _replicas_run(bootstrap, replicas, records)
            runs[str(replicas)].append(rate)
            harness.progress(f"repeat {r + 1}/{repeats}: {replicas} replica(s) {rate:8.0f} ev/s")
    one, two = harness.median(runs["1"]), harness.median(runs["2"])
    return {
        "events": n,
        "repeats": repeats,
        "publisher_alone_events_per_s": harness.median(runs["publisher"]),
        "one_replica_events_per_s": one,
        "two_replicas_events_per_s": two,
        "ratio_two_vs_one": harness.ratio(two, one),
        "runs": {k: [round(x, 1) for x in v] for k, v in runs.items()},
    }


async def _cost(models: int, features: int, n: int) -> float:
    """CPU microseconds per event of the batch work, after a warm-up that creates detectors."""
    from service.composition import build_guardian
    from service.settings import GuardianSettings

    guardian = build_guardian(GuardianSettings.load(None))
    await guardian.redactor.start()
    try:
        driver = StageDriver(guardian)
        source = wide_events(None, models=models, features=features, seed=5)
        warm = max(2000, 3 * models)
        for _ in range(0, warm, 1000):
            await driver.run_batch(list(itertools.islice(source, 1000)))
        batches = [list(itertools.islice(source, 1000)) for _ in range(max(1, n // 1000))]
        started = time.process_time()
        for batch in batches:
            await driver.run_batch(batch)
        return (time.process_time() - started) / (len(batches) * 1000) * 1e6
    finally:
        await guardian.redactor.close()


async def _shape_costs(n: int, repeats: int, quick: bool) -> dict[str, Any]:
    feature_points = [5, 10, 50] if quick else [5, 10, 20, 50, 100]
    model_points = [1, 100, 1000] if quick else [1, 10, 100, 1000]
    by_features: dict[str, float] = {}
    for f in feature_points:
        by_features[str(f)] = harness.median([await _cost(10, f, n) for _ in range(repeats)])
        harness.progress(f"{f:>4} features, 10 models: {by_features[str(f)]:7.1f} us/event")
    by_models: dict[str, float] = {}
    for m in model_points:
        by_models[str(m)] = harness.median([await _cost(m, 10, n) for _ in range(repeats)])
        harness.progress(f"{m:>4} models, 10 features: {by_models[str(m)]:7.1f} us/event")
    return {"cpu_us_per_event_by_features": by_features, "cpu_us_per_event_by_models": by_models}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="events per replica run (20000)")
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (quick: 1)")
    parser.add_argument("--cost-events", type=int, default=None, help="per cost point (10000)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-replicas", action="store_true")
    args = parser.parse_args(argv)
    n = args.n or (4_000 if args.quick else 20_000)
    repeats = args.repeats or (1 if args.quick else 3)
    cost_n = args.cost_events or (3_000 if args.quick else 10_000)
    print(
        f"scaling: {n} events per replica run, {repeats} repeats, cores {os.cpu_count()}, "
        f"broker {harness.broker_description()}"
    )
    result: dict[str, Any] = {}
    if not args.skip_replicas:
        with harness.BenchBroker() as bootstrap:
            result["replicas"] = asyncio.run(_replica_scaling(bootstrap, n, repeats))
        r = result["replicas"]
        print(f"publisher alone (baseline) : {r['publisher_alone_events_per_s']:9.0f} events/s")
        print(f"1 replica                  : {r['one_replica_events_per_s']:9.0f} events/s")
        print(f"2 replicas, one group      : {r['two_replicas_events_per_s']:9.0f} events/s")
        print(f"ratio 2 vs 1               : {r['ratio_two_vs_one']:9.2f}x")
    result["shape"] = asyncio.run(_shape_costs(cost_n, repeats, args.quick))
    s = result["shape"]
    print("CPU cost per event (in-process, no Kafka), by features per event (10 models):")
    base_f = next(iter(s["cpu_us_per_event_by_features"].values()))
    for f, us in s["cpu_us_per_event_by_features"].items():
        print(f"  {f:>5} features : {us:8.1f} us/event  ({us / base_f:.2f}x of the smallest)")
    print("by number of models (10 features):")
    base_m = next(iter(s["cpu_us_per_event_by_models"].values()))
    for m, us in s["cpu_us_per_event_by_models"].items():
        print(f"  {m:>5} models   : {us:8.1f} us/event  ({us / base_m:.2f}x of the smallest)")
    harness.emit("bench_scaling", result)


if __name__ == "__main__":
    main()
