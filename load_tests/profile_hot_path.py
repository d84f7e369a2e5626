"""The hot path on its own, for profilers: the batch work of the pipeline, in-process.

    python -m load_tests.profile_hot_path [--events 20000] [--mix]
    py-spy record --format raw -o stacks.txt -- python -m load_tests.profile_hot_path
    python -m load_tests.profile_hot_path --summarize stacks.txt

Runs a default-config Guardian's stages, output serialisation and metrics on
demo events (:class:`load_tests.workload.StageDriver`) and prints CPU
microseconds per event for each stage, so a change can be judged without
Kafka and without the noise of a shared machine's wall clock. ``--summarize``
reads py-spy's collapsed stacks and prints each stage's share of the samples
and the functions with the most self time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from load_tests.workload import demo_records

STAGE_FRAMES = {
    "validate": "process (service/pipeline/stages.py",
    "redact": "redact_batch (service/redaction/redactor.py",
    "retain": "classify (service/retention/policy.py",
    "detect": "process (service/pipeline/detect.py",
    "outputs": "_outputs (service/pipeline/worker.py",
    "metrics": "_record (service/pipeline/worker.py",
}


async def _run(events: int, mix: bool, default_gc: bool) -> dict[str, float]:
    from service.composition import build_guardian
    from service.pipeline.context import EventContext
    from service.settings import GuardianSettings

    records = demo_records(events, mix=mix)
    guardian = build_guardian(GuardianSettings.load(None))
    await guardian.redactor.start()
    worker = guardian.worker
    if not default_gc:
        from service.composition import tune_gc

        tune_gc()  # as Guardian.start() does in the service (service.composition)
    cost: Counter[str] = Counter()
    try:
        for measured in (False, True):  # the first pass warms caches and creates detectors
            for i in range(0, events, 1000):
                batch = [
                    EventContext("in", 0, i + j, value, key)
                    for j, (key, value) in enumerate(records[i : i + 1000])
                ]
                for stage in worker.stages:
                    started = time.process_time()
                    await stage.process(batch)
                    if measured:
                        cost[stage.name] += time.process_time() - started
                started = time.process_time()
                worker._outputs(batch, [], [])
                worker._record(batch, [], 1, 0.0)
                if measured:
                    cost["outputs+metrics"] += time.process_time() - started
    finally:
        await guardian.redactor.close()
    return {name: seconds / events * 1e6 for name, seconds in cost.items()}


def summarize(path: Path, top: int = 15) -> None:
    """Stage shares and top self-time functions from py-spy ``--format raw`` output."""
    total = 0
    stage_samples: Counter[str] = Counter()
    self_samples: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for stage, marker in STAGE_FRAMES.items():
            if any(marker in f for f in frames):
                stage_samples[stage] += n
        self_samples[frames[-1].split(" (")[0] + " (" + frames[-1].split("/")[-1]] += n
    in_stages = sum(stage_samples.values())
    print(f"{total} samples; {in_stages / max(1, total):.0%} inside the batch work")
    for stage, n in stage_samples.most_common():
        print(f"  {stage:10s} {n / max(1, total):6.1%}")
    print("top self time:")
    for name, n in self_samples.most_common(top):
        print(f"  {n / max(1, total):6.1%}  {name}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--mix", action="store_true", help="a third of the events with text")
    parser.add_argument("--default-gc", action="store_true", help="without the worker's GC tuning")
    parser.add_argument("--summarize", type=Path, help="py-spy raw output to summarize")
    args = parser.parse_args(argv)
    if args.summarize:
        summarize(args.summarize)
        return
    costs = asyncio.run(_run(args.events, args.mix, args.default_gc))
    kind = "mix" if args.mix else "structured"
    gc_mode = "default GC" if args.default_gc else "tuned GC"
    print(f"CPU us/event of the batch work ({kind}, {args.events} events, {gc_mode}):")
    for name, us in costs.items():
        print(f"  {name:16s} {us:7.1f}")
    print(f"  {'total':16s} {sum(costs.values()):7.1f}")


if __name__ == "__main__":
    main()
