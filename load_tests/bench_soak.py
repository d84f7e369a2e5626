"""Soak: publisher + ``guardian run`` through Kafka for minutes; memory and lag over time.

    python -m load_tests.bench_soak [--minutes 15] [--rate 300] [--workers 1] [--sample-s 15]
                                    [--quick]

One ``guardian run`` (static member, labels joined, checkpoints on, the shipped
config with the demo's settings: one redaction worker, ``--workers``) consumes
the demo publisher's stream at ``--rate`` events/s (300: ``make demo``) for
``--minutes``. Every ``--sample-s`` seconds it records the memory of Guardian's
**whole process tree** (the main process and every descendant: redaction
forkserver and pool workers, read from ``/proc``): the sum of RSS (what the OOM
killer and ``ps`` see; shared pages counted once per process) and the sum of
PSS (shared pages split between the processes sharing them: the tree's real
footprint), with the consumer lag (``guardian_consumer_lag``, summed) and
events consumed.

Prints the table, the baseline (tree RSS at the end of warm-up, the first
quarter of the run), the maximum, growth over the second half (least-squares
slope x its duration, and last minus middle sample) and final / baseline.
The goal (issue 19): flat after warm-up, at most 500 MiB, growth over the second
half about 0.

The broker is kept out of the measurement: each run starts a fresh local
broker (a new data dir, so no earlier run's records), and only Guardian's tree
is measured, never the broker process. The local broker (noida-db) keeps every
record in one JSON file it rewrites, so *its* memory, disk and CPU grow with
the run (its RSS is printed per sample as information only); that growth shows
up here only as lag if the broker slows down. Runs are kept under ~1M records
(300 events/s x 15 min = 270k events; with their sanitized copies, labels and
checkpoints about 900k records). With ``GUARDIAN_KAFKA__BOOTSTRAP_SERVERS``
set, that Kafka is used instead and nothing about it is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from load_tests import harness
from load_tests.replicas import Replica

#: The demo's settings: signing keys (checkpoints and config documents on) and one redaction
#: worker, as ``make demo`` sets them (``service/demo/run.py``); ``--workers`` overrides it.
DEMO_ENV = {
    "GUARDIAN_STATE__SIGNING_KEY": "soak-checkpoint-key-0123456789",
    "GUARDIAN_CONTROL__SIGNING_KEYS": '{"soak": "soak-config-key-0123456789"}',
    "GUARDIAN_CONTROL__ACTIVE_SIGNING_KEY": "soak",
    "GUARDIAN_REDACTION__WORKERS": "1",
}


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_memory(pid: int) -> tuple[float, float, int]:
    """``(rss_mib, pss_mib, processes)`` of ``pid`` and all its descendants."""
    pids = [pid, *harness.descendants(pid)]
    rss = sum(_status_kib(p, "VmRSS") for p in pids) / 1024
    pss = sum(_pss_kib(p) for p in pids) / 1024
    return rss, pss, len(pids)


def process_memory(pid: int) -> dict[str, float]:
    """Where the tree's memory is: main's RSS and its anonymous part, the largest child's RSS.

    Main's anonymous RSS (``RssAnon``: heap and arenas, not mapped files) is what a growing
    Python heap or a fragmented allocator moves; the largest child is the redaction worker.
    """
    children = harness.descendants(pid)
    return {
        "main_rss_mib": round(_status_kib(pid, "VmRSS") / 1024, 1),
        "main_anon_mib": round(_status_kib(pid, "RssAnon") / 1024, 1),
        "child_max_rss_mib": round(
            max((_status_kib(p, "VmRSS") for p in children), default=0) / 1024, 1
        ),
    }


async def _metrics(client: httpx.AsyncClient, port: int) -> tuple[float, float, float]:
    """``(lag, consumed, series)`` from Guardian's /metrics; NaN when it does not answer.

    ``series`` counts the exposition's sample lines: a label whose values keep coming
    (an id, a hash) shows up as series that grow with the run.
    """
    try:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text
    except httpx.HTTPError:
        return math.nan, math.nan, math.nan
    lag = consumed = series = 0.0
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series += 1
        if line.startswith("guardian_consumer_lag{"):
            lag += float(line.rsplit(" ", 1)[1])
        elif line.startswith("guardian_events_consumed_total"):
            consumed = float(line.rsplit(" ", 1)[1])
    return lag, consumed, series


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def soak(
    bootstrap: str, minutes: float, rate: float, sample_s: float, workers: int = 1
) -> list[dict[str, float]]:
    kafka = harness.unique_kafka(bootstrap)
    # Replica passes this process's environment on.
    os.environ.update({**DEMO_ENV, "GUARDIAN_REDACTION__WORKERS": str(workers)})
    guardian = Replica(kafka, replica_id="soak-0")
    publisher: subprocess.Popen[bytes] | None = None
    broker = harness.broker_pid(bootstrap)
    samples: list[dict[str, float]] = []
    try:
        await guardian.wait_ready(timeout_s=180)
        publisher = harness.demo_publisher(
            bootstrap,
            kafka,
            rate,
            *("--drift-at", "6000", "--bias-at", "6000", "--malformed-fraction", "0.01"),
            *("--label-delay", "3"),
        )
        started = time.monotonic()
        end = started + minutes * 60
        async with httpx.AsyncClient() as client:
            while True:
                if guardian.proc.poll() is not None:
                    raise RuntimeError(f"guardian exited: {guardian.log()[-2000:]}")
                rss, pss, procs = tree_memory(guardian.proc.pid)
                lag, consumed, series = await _metrics(client, guardian.port)
                broker_rss = harness.rss_mb(broker) if broker is not None else math.nan
                samples.append(
                    {
                        "t_s": round(time.monotonic() - started, 1),
                        "rss_mib": round(rss, 1),
                        "pss_mib": round(pss, 1),
                        "processes": procs,
                        **process_memory(guardian.proc.pid),
                        "series": series,
                        "lag": lag,
                        "consumed": consumed,
                        "broker_rss_mib": round(broker_rss, 1),
                    }
                )
                harness.progress(
                    f"t={samples[-1]['t_s']:.0f}s tree RSS {rss:.0f} MiB, lag {lag:.0f}"
                )
                if time.monotonic() >= end:
                    break
                await asyncio.sleep(min(sample_s, max(0.0, end - time.monotonic())))
    finally:
        if publisher is not None:
            _stop(publisher)
        guardian.stop()
    return samples


def _slope_per_s(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def summarise(samples: list[dict[str, float]]) -> dict[str, float]:
    """Baseline after warm-up (first quarter), max, second-half growth, final / baseline."""
    total = samples[-1]["t_s"]
    after_warm_up = [s for s in samples if s["t_s"] >= total / 4]
    baseline = after_warm_up[0]["rss_mib"]
    half = [s for s in samples if s["t_s"] >= total / 2]
    slope = _slope_per_s([(s["t_s"], s["rss_mib"]) for s in half])
    span = half[-1]["t_s"] - half[0]["t_s"]
    return {
        "minutes": round(total / 60, 2),
        "baseline_rss_mib": baseline,
        "max_rss_mib": max(s["rss_mib"] for s in samples),
        "final_rss_mib": samples[-1]["rss_mib"],
        "final_pss_mib": samples[-1]["pss_mib"],
        "second_half_growth_fit_mib": round(slope * span, 1),
        "second_half_growth_last_minus_mid_mib": round(half[-1]["rss_mib"] - half[0]["rss_mib"], 1),
        "second_half_main_growth_fit_mib": round(
            _slope_per_s([(s["t_s"], s["main_rss_mib"]) for s in half]) * span, 1
        ),
        "second_half_worker_growth_fit_mib": round(
            _slope_per_s([(s["t_s"], s["child_max_rss_mib"]) for s in half]) * span, 1
        ),
        "final_over_baseline": round(harness.ratio(samples[-1]["rss_mib"], baseline), 3),
        "max_lag": max(s["lag"] for s in samples if not math.isnan(s["lag"])),
        "final_lag": samples[-1]["lag"],
        "events_consumed": samples[-1]["consumed"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=300.0, help="demo events/s")
    parser.add_argument("--workers", type=int, default=1, help="redaction worker processes")
    parser.add_argument("--sample-s", type=float, default=15.0)
    parser.add_argument("--quick", action="store_true", help="1 minute, a sample every 5 s")
    args = parser.parse_args(argv)
    if args.quick:
        args.minutes, args.sample_s = 1.0, 5.0
    broker = harness.BenchBroker()
    bootstrap = broker.__enter__()
    broker_pid = None if broker.external else harness.broker_pid(bootstrap)
    try:
        samples = asyncio.run(soak(bootstrap, args.minutes, args.rate, args.sample_s, args.workers))
        disk = _broker_disk_mib(broker)
    finally:
        _stop_broker(broker, broker_pid)
    report(samples, args.rate, args.minutes, disk, args.workers)
    return 0


def _broker_disk_mib(broker: harness.BenchBroker) -> float:
    local = getattr(broker, "_local", None)
    if local is None:
        return math.nan
    return sum(f.stat().st_size for f in Path(local.data_dir).glob("*")) / 2**20


def _stop_broker(broker: harness.BenchBroker, pid: int | None) -> None:
    """Stop the local broker; a failed stop (seen once after a long run) loses no figures."""
    try:
        broker.__exit__(None, None, None)
    except (subprocess.SubprocessError, OSError) as exc:
        harness.progress(f"stopping the local broker failed ({type(exc).__name__})")
        if pid is not None:  # the broker this run started, by its pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        local = getattr(broker, "_local", None)
        if local is not None:
            shutil.rmtree(local.data_dir, ignore_errors=True)


def report(
    samples: list[dict[str, float]], rate: float, minutes: float, disk: float, workers: int = 1
) -> None:
    args = argparse.Namespace(rate=rate, minutes=minutes)
    result = summarise(samples)
    print(
        f"Soak: {args.rate:.0f} events/s for {args.minutes:g} min, {workers} redaction "
        f"worker(s) ({harness.broker_description()})"
    )
    # A shared machine starves Guardian of CPU: then lag grows whatever Guardian does.
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"{'t (s)':>7} {'tree RSS':>9} {'tree PSS':>9} {'procs':>6} {'main RSS':>9} "
        f"{'main anon':>10} {'worker RSS':>11} {'series':>7} {'lag':>8} "
        f"{'consumed':>10} {'broker RSS (info)':>18}"
    )
    for s in samples:
        print(
            f"{s['t_s']:>7.0f} {s['rss_mib']:>9.1f} {s['pss_mib']:>9.1f} {s['processes']:>6.0f} "
            f"{s['main_rss_mib']:>9.1f} {s['main_anon_mib']:>10.1f} "
            f"{s['child_max_rss_mib']:>11.1f} {s['series']:>7.0f} "
            f"{s['lag']:>8.0f} {s['consumed']:>10.0f} {s['broker_rss_mib']:>18.1f}"
        )
    print(f"baseline (tree RSS after warm-up, first quarter): {result['baseline_rss_mib']:.1f} MiB")
    print(f"max tree RSS: {result['max_rss_mib']:.1f} MiB (goal <= 500)")
    print(
        f"growth over the second half: {result['second_half_growth_fit_mib']:+.1f} MiB (fit), "
        f"{result['second_half_growth_last_minus_mid_mib']:+.1f} MiB (last - middle)"
    )
    print(
        f"  of which main {result['second_half_main_growth_fit_mib']:+.1f} MiB, the largest "
        f"child (redaction worker) {result['second_half_worker_growth_fit_mib']:+.1f} MiB (fits)"
    )
    print(f"final / baseline: {result['final_over_baseline']:.3f}")
    print(f"lag: max {result['max_lag']:.0f}, final {result['final_lag']:.0f}")
    print(f"broker data on disk at the end (info, not measured): {disk:.0f} MiB")
    harness.emit(
        "bench_soak",
        {
            **result,
            "rate": args.rate,
            "workers": workers,
            "broker_disk_mib": disk,
            "samples": samples,
        },
    )


if __name__ == "__main__":
    sys.exit(main())
