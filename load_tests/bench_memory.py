"""RSS of a Guardian over 1M events across 1,000 models x 10 features: flat and bounded.

    python -m load_tests.bench_memory [--events 2000000] [--models 1000] [--features 10] [--quick]

The run goes on to 2M events (RSS at 1M is printed) so that the second half,
over which flatness is judged, starts after every bound has been reached.

The events are fed straight to the Guardian's stages in-process (validation,
redaction, retention, detectors, fairness, label join, output serialisation
and metrics; :class:`load_tests.workload.StageDriver`), without Kafka, so a
million events take minutes, not an hour; Kafka client buffers are bounded by
their own settings (``max_batch``, fetch bytes) and are not what grows with
traffic. Every event has a fresh ``event_id`` and a prediction, so the label
join fills up to its bound.

Flat needs the bounds reached: with 1,000 models and ``max_models`` 200, an
admitted model gets one event in 1,000, so the shipped 5,000-event fairness
windows would fill only after 5M events. The run therefore uses the shipped
config with the fairness window ``size`` set to ``--window-size`` (500 by
default: every window is full by half-way), so the second half measures
steady state; it also prints what one window entry costs, to size the shipped
windows (``--window-size 5000`` runs them as shipped).

Prints RSS (MiB) sampled along the run, the baseline (RSS after start, before
any event), growth over the second half of the run (flat means ~0), and the
sizes of everything keyed by traffic next to the configured bound that caps
it: drift streams (``limits.max_models``), detectors (``limits.max_detectors``),
fairness windows (``max_models``), label join (``detectors.label_join_max``),
redaction cache (``redaction.cache_size``), metric label values (``top_k``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from load_tests import harness
from load_tests.workload import StageDriver, wide_events

BATCH = 1000


def _sizes(guardian: Any) -> dict[str, dict[str, int]]:
    """What grows with traffic, next to the configured bound that caps it."""
    specs = guardian.detectors.specs
    settings = guardian.settings
    fairness = guardian.fairness
    join = guardian.label_join
    return {
        "drift_streams": {
            "size": len(guardian.detectors._streams),
            "bound": specs.limits.max_models,
        },
        "detectors": {
            "size": len(guardian.detectors._watches),
            "bound": specs.limits.max_detectors,
        },
        "fairness_models": {"size": len(fairness._models), "bound": fairness.config.max_models},
        # Windows fill to their configured capacity per model: below it, RSS still grows.
        "fairness_window_entries": {
            "size": sum(len(state.window) for state in fairness._models.values()),
            "bound": sum(state.window.config.window.capacity for state in fairness._models.values())
            if fairness._models
            else 0,
        },
        "label_join_remembered_ids": {
            "size": len(join._joined) + len(join._dropped),
            "bound": 2 * settings.detectors.label_join_max,
        },
        "label_join_entries": {"size": len(join), "bound": settings.detectors.label_join_max},
        "redaction_cache": {
            "size": len(guardian.redactor._cache._data),
            "bound": settings.redaction.cache_size,
        },
        "model_label_values": {
            "size": len(guardian.metrics.model_label.admitted),
            "bound": settings.limits.top_k_label_values,
        },
    }


def _fairness_config(window_size: int, directory: Path) -> Path:
    """The shipped fairness config with every window's ``size`` set to ``window_size``."""
    import yaml

    shipped = yaml.safe_load((harness.ROOT / "config" / "fairness.yaml").read_text())
    for entry in shipped["models"]:
        entry.setdefault("window", {})["size"] = window_size
    path = directory / "fairness.yaml"
    path.write_text(yaml.safe_dump(shipped))
    return path


async def _run(
    events: int, models: int, features: int, samples: int, window_size: int
) -> dict[str, Any]:
    from service.composition import build_guardian
    from service.settings import GuardianSettings

    directory = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    fairness = {"config_file": str(_fairness_config(window_size, directory))}
    guardian = build_guardian(GuardianSettings.load(None, fairness=fairness))
    await guardian.redactor.start()
    driver = StageDriver(guardian)
    gc.collect()
    baseline = harness.rss_mb()
    every = max(BATCH, events // samples // BATCH * BATCH)
    series: list[tuple[int, float]] = [(0, baseline)]
    # Live objects the cyclic GC tracks (containers): flat when RSS steps come from the
    # allocator (arenas, fragmentation) rather than from something that keeps growing.
    objects: list[tuple[int, int]] = []
    source = wide_events(None, models=models, features=features)
    started = time.perf_counter()
    paused = 0.0
    done = 0
    try:
        while done < events:
            batch = list(itertools.islice(source, min(BATCH, events - done)))
            await driver.run_batch(batch)
            done += len(batch)
            if done % every == 0 or done == events:
                rss = harness.rss_mb()
                series.append((done, rss))
                counting = time.perf_counter()
                objects.append((done, len(gc.get_objects())))
                paused += time.perf_counter() - counting
                harness.progress(f"{done:>9,} events  RSS {rss:7.1f} MiB")
        elapsed = time.perf_counter() - started - paused
        sizes = _sizes(guardian)
        entry_bytes = _window_entry_bytes(guardian)
    finally:
        await guardian.redactor.close()
        shutil.rmtree(directory, ignore_errors=True)
    half = [rss for n, rss in series if n >= events // 2]
    return {
        "events": events,
        "models": models,
        "features": features,
        "baseline_rss_mib": round(baseline, 1),
        "final_rss_mib": round(series[-1][1], 1),
        "rss_at_half_mib": round(half[0], 1),
        "growth_second_half_mib": round(series[-1][1] - half[0], 1),
        "peak_rss_mib": round(max(r for _, r in series), 1),
        "series": [(n, round(r, 1)) for n, r in series],
        "gc_objects": objects,
        "gc_objects_second_half": next(c for n, c in objects if n >= events // 2),
        "events_per_s_in_process": round(events / elapsed, 1),
        "rejected": driver.rejected,
        "sizes": sizes,
        "fairness_window_size": window_size,
        "window_entry_bytes": entry_bytes,
        "fed": "in-process to the stages (no Kafka)",
    }


def _window_entry_bytes(guardian: Any) -> float:
    """Bytes one fairness window entry holds (the entry, its group-id tuple and index slot)."""
    import sys

    for state in guardian.fairness._models.values():
        window = state.window
        if len(window):
            entry = window._entries[-1]
            index_slot = sys.getsizeof(window._by_key) / max(1, len(window._by_key))
            parts = (entry, entry.groups, entry.ts, entry.key)
            return round(sum(map(sys.getsizeof, parts)) + 8 + index_slot, 1)  # + deque slot
    return math.nan


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=None, help="default 2,000,000")
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--samples", type=int, default=20, help="RSS samples along the run")
    parser.add_argument("--quick", action="store_true", help="200,000 events")
    parser.add_argument(
        "--window-size", type=int, default=500, help="fairness window size (shipped: 5000)"
    )
    args = parser.parse_args(argv)
    events = args.events or (200_000 if args.quick else 2_000_000)
    print(
        f"memory: {events:,} events, {args.models} models x {args.features} features, "
        f"fed in-process to the stages (no Kafka); fairness windows of {args.window_size} events"
    )
    r = asyncio.run(_run(events, args.models, args.features, args.samples, args.window_size))
    print("  events     RSS MiB")
    for n, rss in r["series"]:
        print(f"  {n:>9,}  {rss:7.1f}")
    print(f"baseline (started, no events) : {r['baseline_rss_mib']:7.1f} MiB")
    print(
        f"after {events:,} events{'':>7}: {r['final_rss_mib']:7.1f} MiB "
        f"(ratio {r['final_rss_mib'] / r['baseline_rss_mib']:.2f}x baseline)"
    )
    at_1m = [rss for n, rss in r["series"] if n >= 1_000_000]
    if at_1m:
        print(f"after 1,000,000 events        : {at_1m[0]:7.1f} MiB")
    print(f"growth over the second half   : {r['growth_second_half_mib']:+7.1f} MiB (flat = ~0)")
    start_objects, end_objects = r["gc_objects_second_half"], r["gc_objects"][-1][1]
    print(
        f"live GC-tracked objects       : {start_objects:,} at half-way, {end_objects:,} at the "
        f"end ({end_objects - start_objects:+,}); RSS steps with a flat count are the allocator's"
    )
    print(f"in-process rate               : {r['events_per_s_in_process']:7.0f} events/s")
    print("what traffic fills, and the configured bound:")
    for name, s in r["sizes"].items():
        print(f"  {name:22s} {s['size']:>8,} / {s['bound']:,}")
    fairness = r["sizes"]["fairness_window_entries"]
    per_entry = r["window_entry_bytes"]
    print(
        f"one fairness window entry     : ~{per_entry:.0f} B; the shipped 5,000-event windows "
        f"x {r['sizes']['fairness_models']['bound']} models would hold "
        f"{5000 * r['sizes']['fairness_models']['bound']:,} entries "
        f"(~{5000 * r['sizes']['fairness_models']['bound'] * per_entry / 2**20:.0f} MiB) "
        f"when full; this run's bound: {fairness['bound']:,}"
    )
    harness.emit("bench_memory", r)


if __name__ == "__main__":
    main()
