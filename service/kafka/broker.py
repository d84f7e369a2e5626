"""Start and stop the local Kafka-compatible broker (``noida-db``) for demo, tests, benchmarks.

This machine has no Docker engine and no Apache Kafka package; the PyPI package
``noida-db`` (pinned in the ``broker`` and ``dev`` extras) speaks the Kafka wire
protocol. Each run gets a fresh data directory: the broker keeps its whole
state in one JSON file, so old runs would slow it down.

Usage::

    python -m service.kafka.broker up --port 9092 --data-dir .broker
    python -m service.kafka.broker down --data-dir .broker
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

#: The local-broker profile: Kafka settings every Guardian on noida-db runs with (``make demo``,
#: the test fixtures, the benchmarks). noida-db answers an empty fetch at once instead of
#: holding it for ``fetch.max.wait.ms``, so the consumers wait 5 ms after one (off by default:
#: against Apache Kafka it would only add latency).
LOCAL_BROKER_KAFKA: dict[str, int] = {"empty_fetch_backoff_ms": 5}


def local_broker_env() -> dict[str, str]:
    """:data:`LOCAL_BROKER_KAFKA` as ``GUARDIAN_KAFKA__*`` variables, for ``guardian run``."""
    return {f"GUARDIAN_KAFKA__{name.upper()}": str(v) for name, v in LOCAL_BROKER_KAFKA.items()}


def _binary() -> str:
    candidate = Path(sys.executable).parent / "noida-db"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("noida-db")
    if found is None:
        raise RuntimeError("noida-db not installed: pip install 'inference-guardian[broker]'")
    return found


async def wait_for_kafka(bootstrap: str, timeout_s: float = 30.0) -> None:
    """Poll the admin API until the broker lists its topics."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await asyncio.wait_for(admin.start(), timeout=3)
            await asyncio.wait_for(admin.list_topics(), timeout=3)
            return
        except (KafkaError, OSError, TimeoutError) as exc:
            last = exc
        finally:
            try:
                await asyncio.wait_for(admin.close(), timeout=2)
            except (KafkaError, OSError, TimeoutError, AttributeError):
                pass
        await asyncio.sleep(0.2)
    raise TimeoutError(f"Kafka at {bootstrap} did not answer within {timeout_s}s: {last}")


class LocalBroker:
    """A ``noida-db`` Kafka broker on 127.0.0.1 with its own data directory.

    Examples
    --------
    >>> broker = LocalBroker(port=19092)  # doctest: +SKIP
    >>> broker.start(); broker.bootstrap  # doctest: +SKIP
    '127.0.0.1:19092'
    """

    def __init__(self, port: int = 9092, data_dir: Path | None = None) -> None:
        self.port = port
        self._owns_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="guardian-broker-"))
        self.started = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self, *args: str) -> None:
        subprocess.run(  # noqa: S603 - fixed binary, arguments we build
            [_binary(), *args, "--data-dir", str(self.data_dir)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )

    def start(self, timeout_s: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._run("up", "--host", "127.0.0.1", "--only", "kafka", "--kafka-port", str(self.port))
        self.started = True
        asyncio.run(wait_for_kafka(self.bootstrap, timeout_s))

    def stop(self) -> None:
        if self.started:
            self._run("down")
            self.started = False
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m service.kafka.broker")
    parser.add_argument("action", choices=["up", "down", "wait"])
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--data-dir", type=Path, default=Path(".broker"))
    parser.add_argument("--fresh", action="store_true", help="wipe the data dir before start")
    args = parser.parse_args(argv)
    broker = LocalBroker(args.port, args.data_dir)
    if args.action == "up":
        if args.fresh:
            shutil.rmtree(args.data_dir, ignore_errors=True)
        broker.start()
        print(f"Kafka-compatible broker (noida-db) on {broker.bootstrap}, data in {args.data_dir}")  # noqa: T201
    elif args.action == "down":
        broker.started = True
        broker.stop()
    else:
        asyncio.run(wait_for_kafka(f"127.0.0.1:{args.port}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
