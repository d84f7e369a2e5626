"""What every benchmark of the suite shares: a broker, unique names, statistics, results.

Benchmarks measure Guardian the way users load it, so most need a Kafka
broker: :class:`BenchBroker` starts the pinned local ``noida-db`` broker on a
free port (a fresh data dir each time), unless ``GUARDIAN_KAFKA__BOOTSTRAP_SERVERS``
names another Kafka, which is then used as is. Names of topics and groups are
unique per run (:func:`unique_kafka`), so runs never see each other's data.

Each benchmark prints its own figures for people and calls :func:`emit` once
with a JSON-able summary; when run by the suite (``python -m load_tests``) the
summary also goes to the file named by ``LOAD_TESTS_RESULT_FILE``, which is how
``report.json`` is assembled.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

ROOT = Path(__file__).resolve().parents[1]
RESULT_FILE_ENV = "LOAD_TESTS_RESULT_FILE"
EXTERNAL_BOOTSTRAP_ENV = "GUARDIAN_KAFKA__BOOTSTRAP_SERVERS"
BROKER_PACKAGE = "noida-db"
LIBRARIES = (
    "aiokafka",
    "orjson",
    "pydantic",
    "presidio-analyzer",
    "spacy",
    "river",
    "prometheus-client",
    "fastapi",
    "numpy",
    BROKER_PACKAGE,
)


# ---------------------------------------------------------------------------- statistics


def median(values: Sequence[float]) -> float:
    """Median of the repeats (the figure every benchmark reports)."""
    return float(statistics.median(values)) if values else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


# ---------------------------------------------------------------------------- machine


def library_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def broker_description() -> str:
    """The broker benchmarks use in this environment (the report records it)."""
    external = os.environ.get(EXTERNAL_BOOTSTRAP_ENV)
    if external:
        return f"external Kafka at {external} ({EXTERNAL_BOOTSTRAP_ENV})"
    return (
        f"local {BROKER_PACKAGE} {library_versions()[BROKER_PACKAGE]} on 127.0.0.1 (fresh data dir)"
    )


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    return {
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "libraries": library_versions(),
        "broker": broker_description(),
        "load_average_at_start": [round(x, 2) for x in load],
    }


# ---------------------------------------------------------------------------- kafka


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BenchBroker:
    """The broker of one benchmark process: external if configured, else a fresh local one.

    Examples
    --------
    >>> with BenchBroker() as bootstrap:  # doctest: +SKIP
    ...     print(bootstrap)
    127.0.0.1:40123
    """

    def __init__(self) -> None:
        self.external = os.environ.get(EXTERNAL_BOOTSTRAP_ENV)
        self._local: Any = None

    def __enter__(self) -> str:
        if self.external:
            return self.external
        from service.kafka.broker import LocalBroker

        self._local = LocalBroker(port=free_port())
        self._local.start()
        return str(self._local.bootstrap)

    def __exit__(self, *exc: object) -> None:
        if self._local is None:
            return
        pid = broker_pid(self._local.bootstrap)
        try:
            self._local.stop()
        except (subprocess.SubprocessError, OSError) as err:  # `noida-db down` failed (seen
            # after long runs): stop the broker this run started by its pid, drop its data.
            progress(f"stopping the local broker failed ({type(err).__name__}); stopping its pid")
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            shutil.rmtree(self._local.data_dir, ignore_errors=True)


def fetch_backoff_ms() -> int:
    """``kafka.empty_fetch_backoff_ms`` for the broker in use: the local-broker profile's, or 0."""
    from service.kafka.broker import LOCAL_BROKER_KAFKA

    return (
        0
        if os.environ.get(EXTERNAL_BOOTSTRAP_ENV)
        else LOCAL_BROKER_KAFKA["empty_fetch_backoff_ms"]
    )


def unique_kafka(bootstrap: str, tag: str | None = None, partitions: int = 6) -> dict[str, Any]:
    """Kafka settings (``GuardianSettings.kafka``) with topic and group names no run shares."""
    tag = tag or uuid.uuid4().hex[:10]
    return {
        "empty_fetch_backoff_ms": fetch_backoff_ms(),
        "bootstrap_servers": bootstrap,
        "group_id": f"bench-{tag}",
        "poll_timeout_ms": 100,
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 500,
        "topics": {
            "events": f"b{tag}.inference.events",
            "labels": f"b{tag}.inference.labels",
            "sanitized_prefix": f"b{tag}.inference.sanitized.",
            "dlq": f"b{tag}.guardian.dlq",
            "alerts": f"b{tag}.guardian.alerts",
            "config": f"b{tag}.guardian.config",
            "audit": f"b{tag}.guardian.audit",
            "state": f"b{tag}.guardian.state",
            "membership": f"b{tag}.guardian.membership",
            "repartition": f"b{tag}.guardian.repartition",
            "partitions": partitions,
        },
    }


def kafka_env(kafka: dict[str, Any]) -> dict[str, str]:
    """The same Kafka settings as ``GUARDIAN_*`` variables, for ``guardian run`` subprocesses."""
    env = {
        "GUARDIAN_KAFKA__BOOTSTRAP_SERVERS": kafka["bootstrap_servers"],
        "GUARDIAN_KAFKA__GROUP_ID": kafka["group_id"],
        "GUARDIAN_KAFKA__POLL_TIMEOUT_MS": str(kafka["poll_timeout_ms"]),
        "GUARDIAN_KAFKA__SESSION_TIMEOUT_MS": str(kafka["session_timeout_ms"]),
        "GUARDIAN_KAFKA__HEARTBEAT_INTERVAL_MS": str(kafka["heartbeat_interval_ms"]),
        "GUARDIAN_KAFKA__EMPTY_FETCH_BACKOFF_MS": str(kafka["empty_fetch_backoff_ms"]),
    }
    for name, value in kafka["topics"].items():
        env[f"GUARDIAN_KAFKA__TOPICS__{name.upper()}"] = str(value)
    return env


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def produce_all(
    bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]]
) -> int:
    """Write ``(key, value)`` records as fast as the client allows; return how many."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1)
    await producer.start()
    sent = 0
    try:
        futures = []
        for key, value in records:
            futures.append(await producer.send(topic, value, key=key))
            sent += 1
            if len(futures) >= 5000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent


async def end_offsets(bootstrap: str, topics: Sequence[str]) -> dict[Any, int]:
    """Latest offset of every partition of ``topics``."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(await topic_partitions(consumer, topics)))
    finally:
        await consumer.stop()


async def topic_partitions(consumer: Any, topics: Sequence[str]) -> list[Any]:
    """Every partition of ``topics`` as ``TopicPartition``s (metadata refreshed if unknown)."""
    from aiokafka import TopicPartition

    tps = []
    for topic in topics:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or ()
        tps += [TopicPartition(topic, p) for p in sorted(partitions)]
    return tps


async def count_messages(bootstrap: str, topics: Sequence[str]) -> int:
    """Messages in ``topics`` (sum of end offsets; topics are fresh per run)."""
    return sum((await end_offsets(bootstrap, topics)).values())


class CommitWatcher:
    """Follows a consumer group's committed offsets from outside the service.

    The pipeline commits a batch only after every output of it is acknowledged,
    so "committed offsets reached the end of the input" means "every output is
    visible" — and polling an admin API costs the measured process nothing.
    """

    def __init__(self, bootstrap: str, group_id: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.topic = topic
        self._admin: Any = None

    async def __aenter__(self) -> CommitWatcher:
        from aiokafka.admin import AIOKafkaAdminClient

        self._admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await self._admin.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._admin.close()

    async def committed(self) -> int:
        offsets = await self._admin.list_consumer_group_offsets(self.group_id)
        return sum(
            meta.offset
            for tp, meta in offsets.items()
            if tp.topic == self.topic and meta.offset > 0
        )

    async def wait_for(self, total: int, timeout_s: float, interval_s: float = 0.05) -> float:
        """Poll until ``total`` offsets are committed; return the monotonic time it happened."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await self.committed() >= total:
                return time.monotonic()
            await asyncio.sleep(interval_s)
        raise TimeoutError(
            f"group {self.group_id} committed {await self.committed()} of {total} "
            f"within {timeout_s}s"
        )


# ---------------------------------------------------------------------------- results


def emit(name: str, summary: dict[str, Any]) -> None:
    """Record a benchmark's summary for the suite's report (and print it as one JSON line)."""
    payload = {"benchmark": name, **summary}
    text = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY).decode()
    print(f"RESULT {text}", flush=True)
    target = os.environ.get(RESULT_FILE_ENV)
    if target:
        Path(target).write_text(text)


def rss_mb(pid: int | None = None) -> float:
    """Resident set size of a process in MiB (Linux ``/proc``)."""
    path = Path(f"/proc/{pid or os.getpid()}/status")
    for line in path.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


@contextlib.contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...`` then ``t[0]`` is the elapsed seconds."""
    box: list[float] = []
    started = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - started)


def progress(message: str) -> None:
    """Progress for people, on stderr so stdout keeps the figures."""
    print(f"  .. {message}", file=sys.stderr, flush=True)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux ``/proc``): a process tree to measure or to kill."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(proc.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def demo_publisher(
    bootstrap: str, kafka: dict[str, Any], rate: float, *extra: str
) -> subprocess.Popen[bytes]:
    """``guardian publish-demo`` into the topics of ``kafka`` at ``rate`` events/s."""
    topics = kafka["topics"]
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "publish-demo",
            "--bootstrap-servers",
            bootstrap,
            "--events-topic",
            topics["events"],
            "--labels-topic",
            topics["labels"],
            "--rate",
            str(rate),
            *extra,
            "--quiet",
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux ``/proc``); NaN if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return math.nan
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man 5 proc).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def broker_pid(bootstrap: str) -> int | None:
    """The pid of the local noida-db broker listening on ``bootstrap``'s port, if any."""
    port = bootstrap.rpartition(":")[2]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"noida" in a for a in argv[:2]) and port.encode() in argv:
            return int(proc.name)
    return None
