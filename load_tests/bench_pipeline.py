"""Full Guardian pipeline against a raw aiokafka passthrough over the same events.

    python -m load_tests.bench_pipeline [--n 20000] [--repeats 5] [--quick]
        [--isolation-level read_committed|read_uncommitted] [--repartition-compare]

Every side reads the same pre-produced input topic, each run with a fresh
consumer group and fresh output topics, in a process of its own; each repeat
gets a fresh local broker (noida-db slows down as its one-file state grows):

- *passthrough* (the baseline): aiokafka consume → ``orjson.loads`` → produce →
  commit after the batch's sends are acknowledged, with Guardian's client
  settings (idempotent producer, ``acks=all``, same ``max_batch``, linger and
  fetch size) into an output topic created beforehand with Guardian's
  partition count;
- *tuned relay* (a second, stricter reference, reported but not the target's
  baseline): the same relay with Guardian's own I/O tuning: outputs written with
  :class:`service.kafka.clients.BatchWriter` (one record batch per partition,
  ``kafka.max_batch_bytes``) and the consumer waiting
  ``kafka.empty_fetch_backoff_ms`` after an empty fetch (the local-broker profile's 5 ms).
  It shows how much of Guardian's ratio comes from cheaper I/O rather than a cheap pipeline;
- *guardian*: an in-process :class:`service.runtime.Guardian` with the default
  config: validation, the redaction policy, retention, every default drift
  detector, fairness, label join, alerts, metrics, and per-class output; with
  ``kafka.repartition: model`` (the default) the detect stage reads the
  repartition topic, and the run ends when the group has also committed that
  topic to its end (every event reached the detectors);
- *guardian-off* (with ``--repartition-compare``): the same with
  ``kafka.repartition: off``, the detect stage on the input partition's replica;
  ``repartition_cost`` is guardian / guardian-off (issue 19).

Measured from outside the service: the clock starts when the child reports
its partitions assigned and stops when the group's committed offsets (polled
through the admin API) reach the end of the input. Both commit only after
every output of a batch is acknowledged, so that moment is "all N outputs
visible". Figures are medians of the repeats; the two sides alternate so
drifting machine load hits both alike.

Both sides read with Guardian's default ``read_committed``; ``--isolation-level
read_uncommitted`` measures both without it (the cost of ``read_committed``: the
difference between two runs; the input here has no transactions, so it is the
client-side cost of tracking aborted transactions and control batches).

Workloads: *structured* (``credit-risk`` and ``fraud-detect`` demo events, no
free text, no PII) and *mix* (a third of the events are ``support-chat``
events with a prompt and an answer, 30% of those with PII).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from load_tests import harness
from load_tests.workload import demo_records

PARTITIONS = 6
#: Children read the input with this isolation level (``--isolation-level``).
_ISOLATION_ENV = "BENCH_ISOLATION_LEVEL"


def _isolation_level() -> str:
    return os.environ.get(_ISOLATION_ENV, "read_committed")


TARGET_RATIO = 0.5
#: The repartition topic of a guardian child: ``<out prefix>`` + this.
REPARTITION = "repartition"


# ---------------------------------------------------------------------------- children


async def _run_passthrough(args: argparse.Namespace) -> None:
    import orjson
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from service.kafka.clients import BatchWriter, MemoPartitioner, wait_after_empty_fetch
    from service.pipeline.outputs import OutputRecord
    from service.settings import KafkaSettings

    defaults = KafkaSettings()
    tuned = args.role == "relay"
    producer = AIOKafkaProducer(
        bootstrap_servers=args.bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=defaults.linger_ms,
        **({"max_batch_size": defaults.max_batch_bytes} if tuned else {}),
    )
    await producer.start()
    consumer = AIOKafkaConsumer(
        args.input,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level=_isolation_level(),
        max_partition_fetch_bytes=defaults.max_partition_fetch_bytes,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    await consumer.start()
    writer = BatchWriter(MemoPartitioner(), 1_048_576)
    if tuned:
        wait_after_empty_fetch(consumer, harness.fetch_backoff_ms())
    stop = _stop_event()
    await _until(lambda: bool(consumer.assignment()))
    print("READY", flush=True)
    out = f"{args.out_prefix}standard"
    while not stop.is_set():
        polled = await consumer.getmany(timeout_ms=100, max_records=defaults.max_batch)
        if not polled:
            continue
        futures = []
        offsets = {}
        records = []
        for tp, messages in polled.items():
            for m in messages:
                event = orjson.loads(m.value)
                if tuned:
                    records.append(OutputRecord(out, orjson.dumps(event), m.key))
                else:
                    futures.append(await producer.send(out, orjson.dumps(event), key=m.key))
            offsets[tp] = messages[-1].offset + 1
        if tuned:
            futures = await writer.send(producer, records)
        await asyncio.gather(*futures)
        await consumer.commit(offsets)
    await consumer.stop()
    await producer.stop()


async def _run_guardian(args: argparse.Namespace) -> None:
    from service.composition import build_guardian
    from service.settings import GuardianSettings

    kafka = harness.unique_kafka(args.bootstrap, partitions=PARTITIONS)
    kafka["group_id"] = args.group
    kafka["topics"]["events"] = args.input
    kafka["topics"]["sanitized_prefix"] = args.out_prefix
    kafka["isolation_level"] = _isolation_level()
    kafka["topics"]["repartition"] = f"{args.out_prefix}{REPARTITION}"
    kafka["repartition"] = "off" if args.role == "guardian-off" else "model"
    settings = GuardianSettings.load(None, kafka=kafka, http={"port": harness.free_port()})
    guardian = build_guardian(settings)
    await guardian.start()
    stop = _stop_event()
    task = asyncio.create_task(guardian.worker.run(stop))
    await _until(lambda: guardian.worker.ready)
    print("READY", flush=True)
    await task
    await guardian.close()


async def _until(condition: Callable[[], bool], timeout_s: float = 120.0) -> None:
    """Poll ``condition`` (a group join has no event to wait on)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError("no partitions assigned")


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


# ---------------------------------------------------------------------------- parent


async def _measure(
    role: str, bootstrap: str, input_topic: str, n: int, out_topics: list[str] | None = None
) -> dict[str, Any]:
    """Start one child on ``input_topic`` with a fresh group; events/s until all committed."""
    tag = uuid.uuid4().hex[:8]
    group = f"bench-{role}-{tag}"
    out_prefix = f"b{tag}.out."
    if role in ("passthrough", "relay"):
        # Guardian creates its output topics (PARTITIONS each) before it reports READY; the
        # passthrough's must exist with as many partitions too, not be auto-created (with
        # the broker's default count) inside the timed run.
        await harness.create_topic(bootstrap, f"{out_prefix}standard", PARTITIONS)
    log = tempfile.NamedTemporaryFile(prefix=f"bench-{role}-", suffix=".log", delete=False)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "load_tests.bench_pipeline",
        "--role",
        role,
        "--bootstrap",
        bootstrap,
        "--input",
        input_topic,
        "--group",
        group,
        "--out-prefix",
        out_prefix,
        cwd=harness.ROOT,
        env={**os.environ, "PYTHONPATH": str(harness.ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
    )
    log.close()
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=120)
        if line.strip() != b"READY":
            raise RuntimeError(f"{role} child did not start: {_tail(log.name)}")
        broker = harness.broker_pid(bootstrap)
        cpu_before = (harness.cpu_seconds(proc.pid), harness.cpu_seconds(broker or 0))
        started = time.monotonic()
        async with harness.CommitWatcher(bootstrap, group, input_topic) as watcher:
            finished = await watcher.wait_for(n, timeout_s=max(120.0, n / 200))
        if role == "guardian":
            # Every repartition record is written before the input offsets commit: its end
            # is final now; the detectors have seen every event once the group committed it.
            routed = f"{out_prefix}{REPARTITION}"
            total = await harness.count_messages(bootstrap, [routed])
            async with harness.CommitWatcher(bootstrap, group, routed) as watcher:
                finished = await watcher.wait_for(total, timeout_s=max(120.0, n / 200))
        cpu_after = (harness.cpu_seconds(proc.pid), harness.cpu_seconds(broker or 0))
        elapsed = finished - started
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), timeout=20)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    if role.startswith("guardian"):
        from service.retention import RetentionSettings

        classes = RetentionSettings().load_policy().classes
        topics = [f"{out_prefix}{c}" for c in classes]
    else:
        topics = [f"{out_prefix}standard"]
    written = await harness.count_messages(bootstrap, await _existing(bootstrap, topics))
    os.unlink(log.name)
    # CPU per event of the child and of the broker over the run (the watcher's last poll
    # may add up to 50 ms of idle after the end, which costs no CPU).
    return {
        "events_per_s": n / elapsed,
        "seconds": elapsed,
        "outputs": written,
        "child_cpu_us_per_event": (cpu_after[0] - cpu_before[0]) / n * 1e6,
        "broker_cpu_us_per_event": (cpu_after[1] - cpu_before[1]) / n * 1e6,
    }


def _tail(path: str) -> str:
    return Path(path).read_text(errors="replace")[-2000:]


async def _existing(bootstrap: str, topics: list[str]) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        known = set(await admin.list_topics())
    finally:
        await admin.close()
    return [t for t in topics if t in known]


async def _repeat(
    name: str, bootstrap: str, records: list[tuple[bytes, bytes]], order: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """One repeat: the input topic filled, then each role in ``order`` over it."""
    topic = f"b{uuid.uuid4().hex[:8]}.pipeline.{name}"
    await harness.create_topic(bootstrap, topic, PARTITIONS)
    produced = await harness.produce_all(bootstrap, topic, records)
    harness.progress(f"{name}: {produced} events pre-produced to {topic}")
    return {role: await _measure(role, bootstrap, topic, len(records)) for role in order}


def _workload(
    name: str, records: list[tuple[bytes, bytes]], repeats: int, compare: bool = False
) -> dict[str, Any]:
    n = len(records)
    order: tuple[str, ...] = ("passthrough", "guardian", "relay")
    if compare:
        order = ("passthrough", "guardian", "guardian-off", "relay")
    runs: dict[str, list[dict[str, Any]]] = {role: [] for role in order}
    for r in range(repeats):
        # A fresh broker per repeat: noida-db keeps its whole state in one JSON file and
        # spends more CPU per write as it grows; with one broker for the whole benchmark
        # the later repeats (and the longer runs in them, Guardian's) paid for the earlier.
        with harness.BenchBroker() as bootstrap:
            results = asyncio.run(
                _repeat(name, bootstrap, records, order if r % 2 == 0 else order[::-1])
            )
        for role, result in results.items():
            runs[role].append(result)
            harness.progress(
                f"{name} repeat {r + 1}/{repeats} {role:11s} {result['events_per_s']:9.0f} ev/s "
                f"({result['seconds']:.2f} s, {result['outputs']} outputs; CPU us/event "
                f"{result['child_cpu_us_per_event']:.0f} {role}, "
                f"{result['broker_cpu_us_per_event']:.0f} broker)"
            )
    base = harness.median([x["events_per_s"] for x in runs["passthrough"]])
    guard = harness.median([x["events_per_s"] for x in runs["guardian"]])
    relay = harness.median([x["events_per_s"] for x in runs["relay"]])

    def cpu(role: str, side: str) -> float:
        return round(harness.median([x[f"{side}_cpu_us_per_event"] for x in runs[role]]), 1)

    summary = {
        "events": n,
        "repeats": repeats,
        "passthrough_events_per_s": base,
        "guardian_events_per_s": guard,
        "ratio": harness.ratio(guard, base),
        "tuned_relay_events_per_s": relay,
        "ratio_to_tuned_relay": harness.ratio(guard, relay),
        "passthrough_runs": [round(x["events_per_s"], 1) for x in runs["passthrough"]],
        "guardian_runs": [round(x["events_per_s"], 1) for x in runs["guardian"]],
        "tuned_relay_runs": [round(x["events_per_s"], 1) for x in runs["relay"]],
        "guardian_outputs": [x["outputs"] for x in runs["guardian"]],
        "cpu_us_per_event": {
            role: {"process": cpu(role, "child"), "broker": cpu(role, "broker")} for role in runs
        },
    }
    if compare:
        off = harness.median([x["events_per_s"] for x in runs["guardian-off"]])
        summary["repartition_off_events_per_s"] = off
        summary["repartition_off_runs"] = [
            round(x["events_per_s"], 1) for x in runs["guardian-off"]
        ]
        summary["repartition_cost"] = harness.ratio(guard, off)
    return summary


def _main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, mix in (("structured", False), ("mix", True)):
        if name == "mix" and args.no_mix:
            continue
        records = demo_records(args.n, mix=mix, seed=args.seed)
        results[name] = _workload(name, records, args.repeats, args.repartition_compare)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="events per run (default 20000)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per side (default 5)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="5,000 events")
    parser.add_argument("--no-mix", action="store_true", help="structured workload only")
    parser.add_argument(
        "--isolation-level",
        choices=["read_committed", "read_uncommitted"],
        default=None,
        help="how both sides read the input (default read_committed, Guardian's default)",
    )
    parser.add_argument(
        "--repartition-compare",
        action="store_true",
        help="also run Guardian with kafka.repartition=off; report on / off (issue 19)",
    )
    parser.add_argument(
        "--role",
        choices=["passthrough", "relay", "guardian", "guardian-off"],
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--group", help=argparse.SUPPRESS)
    parser.add_argument("--out-prefix", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role:
        runner = _run_guardian if args.role.startswith("guardian") else _run_passthrough
        asyncio.run(runner(args))
        return
    if args.isolation_level:
        os.environ[_ISOLATION_ENV] = args.isolation_level  # the children inherit it
    args.n = args.n or (5_000 if args.quick else 20_000)
    args.repeats = args.repeats or 5  # the machine is shared: medians of 5 move less
    print(
        f"pipeline throughput: {args.n} events per run, {args.repeats} repeats per side, "
        f"cores {os.cpu_count()}, broker {harness.broker_description()}"
    )
    results = _main(args)
    for name, r in results.items():
        print(f"[{name}] {r['events']} events")
        print(
            f"  raw aiokafka passthrough : {r['passthrough_events_per_s']:9.0f} events/s (median)"
        )
        print(f"  guardian full pipeline   : {r['guardian_events_per_s']:9.0f} events/s (median)")
        target = f"  (target >= {TARGET_RATIO})" if name == "structured" else ""
        print(f"  ratio                    : {r['ratio']:9.2f}{target}")
        print(
            f"  tuned relay (reference)  : {r['tuned_relay_events_per_s']:9.0f} events/s "
            f"(Guardian's batch writes and fetch wait); guardian / tuned relay "
            f"{r['ratio_to_tuned_relay']:.2f}"
        )
        if "repartition_cost" in r:
            print(
                f"  repartition off          : {r['repartition_off_events_per_s']:9.0f} events/s "
                f"(median); on / off {r['repartition_cost']:.2f}"
            )
        cpu = r["cpu_us_per_event"]
        print(
            "  CPU us/event (median; process, broker): "
            + ", ".join(f"{role} {c['process']}, {c['broker']}" for role, c in cpu.items())
        )
    harness.emit("bench_pipeline", {"n": args.n, "repeats": args.repeats, "workloads": results})


if __name__ == "__main__":
    main()
