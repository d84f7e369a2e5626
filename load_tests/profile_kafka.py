"""An in-process Guardian on the local broker: events/s and CPU per event after a warm-up.

    python -m load_tests.profile_kafka [--events 30000] [--warm-up 5000] [--repeats 3]

For A/B checks of a change to the worker's Kafka I/O (what ``profile_hot_path``
leaves out): the input topic is filled before Guardian starts, the clock runs
from the first ``--warm-up`` events committed to all committed, and the CPU
is this process's (Guardian's loop, aiokafka's tasks; not the broker's).
Alternate old and new trees on a shared machine: single runs move by ±10%.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from load_tests import harness
from load_tests.workload import demo_records


async def _once(bootstrap: str, events: int, warm_up: int) -> tuple[float, float]:
    from service.composition import build_guardian
    from service.settings import GuardianSettings

    topic = f"p{uuid.uuid4().hex[:8]}.events"
    await harness.create_topic(bootstrap, topic, 6)
    await harness.produce_all(
        bootstrap, topic, demo_records(warm_up, seed=3) + demo_records(events)
    )
    kafka = harness.unique_kafka(bootstrap, partitions=6)
    kafka["topics"]["events"] = topic
    guardian = build_guardian(
        GuardianSettings.load(None, kafka=kafka, http={"port": harness.free_port()})
    )
    await guardian.start()
    stop = asyncio.Event()
    task = asyncio.create_task(guardian.worker.run(stop))
    try:

        def committed() -> int:
            return sum(guardian.worker.committed.values())

        while committed() < warm_up:  # noqa: ASYNC110 - a commit has no event to wait on
            await asyncio.sleep(0.001)
        cpu, wall = time.process_time(), time.perf_counter()
        while committed() < warm_up + events:  # noqa: ASYNC110
            await asyncio.sleep(0.002)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        stop.set()
        await task
        await guardian.close()
    return events / wall, cpu / events * 1e6


async def _main(args: argparse.Namespace, bootstrap: str) -> list[tuple[float, float]]:
    runs = []
    for r in range(args.repeats):
        rate, cpu = await _once(bootstrap, args.events, args.warm_up)
        harness.progress(f"run {r + 1}/{args.repeats}: {rate:8.0f} events/s, {cpu:5.1f} us/event")
        runs.append((rate, cpu))
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--warm-up", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with harness.BenchBroker() as bootstrap:
        runs = asyncio.run(_main(args, bootstrap))
    rate = harness.median([r for r, _ in runs])
    cpu = harness.median([c for _, c in runs])
    print(
        f"in-process Guardian, {args.events} structured events after {args.warm_up}: "
        f"{rate:.0f} events/s, {cpu:.1f} us CPU/event (medians of {len(runs)})"
    )


if __name__ == "__main__":
    main()
