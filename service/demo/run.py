"""``make demo``: broker + Guardian + synthetic publisher, with the URLs and a live summary.

Starts a fresh local Kafka-compatible broker (unless
``GUARDIAN_KAFKA__BOOTSTRAP_SERVERS`` points at a running Kafka), one Guardian
and the demo publisher with drift and bias injected after a warm-up, then prints
every few seconds what Guardian saw: events in and out, the DLQ, redactions by
entity, drift detections, fairness values and firing alerts. Ctrl-C stops all
three and leaves no process behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from service.kafka.broker import LocalBroker, local_broker_env

# The local broker keeps every record in memory and in one file it rewrites, so the
# publisher stops after this many events (10 minutes at 300/s, well past the drift and
# bias at event 6,000): a demo left running all afternoon stays within about 1 GB.
# DEMO_EVENTS=0 publishes until Ctrl-C.
DEMO_EVENTS = int(os.environ.get("DEMO_EVENTS", "180000"))
DEMO_RATE = 300
DEMO_TOKEN = "demo-admin-token"  # noqa: S105 - a documented demo credential for localhost only
ROOT = Path(__file__).resolve().parents[2]


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} minutes" if seconds >= 120 else f"{seconds:.0f} seconds"


def _say(text: str) -> None:
    print(text, flush=True)  # noqa: T201


def _metrics(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        text = response.read().decode()
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return found


def _total(m: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str) -> float:
    return sum(m.get(name, {}).values())


def _by(m: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str, *keys: str) -> str:
    parts = []
    for labels, value in sorted(m.get(name, {}).items()):
        if value:
            d = dict(labels)
            parts.append(f"{'/'.join(d.get(k, '') for k in keys)}={value:g}")
    return ", ".join(parts) or "none yet"


def _ready(port: int, timeout_s: float = 60) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1):
                return True
        except OSError:
            time.sleep(0.5)
    return False


def _summary(port: int, started: float) -> None:
    try:
        m = _metrics(port)
    except OSError:
        _say("  (Guardian not answering yet)")
        return
    fairness = [
        f"{dict(k).get('model')}/{dict(k).get('attribute')} {dict(k).get('metric')}={v:.2f}"
        for k, v in sorted(m.get("guardian_fairness_value", {}).items())
        if dict(k).get("metric") == "demographic_parity_ratio" and v == v
    ]
    firing = [
        f"{dict(k).get('alertname')}({dict(k).get('model')})"
        for k, v in sorted(m.get("guardian_alerts_firing", {}).items())
        if v > 0
    ]
    _say(
        f"[{time.monotonic() - started:5.0f}s] in {_total(m, 'guardian_events_consumed_total'):.0f}"
        f" | out {_total(m, 'guardian_events_processed_total'):.0f}"
        f" | DLQ {_total(m, 'guardian_events_rejected_total'):.0f}"
        f" ({_by(m, 'guardian_events_rejected_total', 'reason')})"
    )
    _say(f"        redactions: {_by(m, 'guardian_redactions_total', 'entity')}")
    _say(
        f"        drift: {_by(m, 'guardian_drift_detected_total', 'model', 'feature', 'detector')}"
    )
    _say(f"        fairness: {', '.join(fairness) or 'warming up'}")
    _say(f"        alerts firing: {', '.join(firing) or 'none'}")


def _show_redacted(bootstrap: str, topic: str = "inference.sanitized.short", n: int = 3) -> None:
    """Print a few sanitized prompts: what log storage keeps instead of the raw text."""
    import asyncio

    import orjson
    from aiokafka import AIOKafkaConsumer

    async def fetch() -> list[bytes]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            batch = await consumer.getmany(timeout_ms=2000, max_records=200)
        finally:
            await consumer.stop()
        return [m.value for msgs in batch.values() for m in msgs if m.value]

    try:
        values = asyncio.run(fetch())
    except Exception as exc:  # noqa: BLE001 - the demo goes on without the sample
        _say(f"  (could not read {topic}: {exc})")
        return
    shown = 0
    for value in values:
        event = orjson.loads(value)
        text = (event.get("inputs") or {}).get("text")
        if text and "<" in text and shown < n:
            found = ",".join(sorted({r["entity"] for r in event["guardian"]["redactions"]}))
            retention = event["guardian"]["retention"]
            _say(f"  redacted prompt [{found}; kept until {retention['expires_at']}]: {text}")
            shown += 1


def _guardian_env(bootstrap: str, port: int, *, local: bool) -> dict[str, str]:
    env = {
        **os.environ,
        "GUARDIAN_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
        "GUARDIAN_HTTP__PORT": str(port),
        # A stable replica id is static membership: a restarted demo gets its partitions at once.
        "GUARDIAN_REPLICA_ID": "demo-0",
        "GUARDIAN_AUTH__TOKENS": (
            '[{"name": "demo-admin", "role": "admin", "token_sha256": "'
            + hashlib.sha256(DEMO_TOKEN.encode()).hexdigest()
            + '"}]'
        ),
        "GUARDIAN_STATE__SIGNING_KEY": os.environ.get(
            "GUARDIAN_STATE__SIGNING_KEY", "demo-checkpoint-key-change-me"
        ),
        "GUARDIAN_CONTROL__SIGNING_KEYS": os.environ.get(
            "GUARDIAN_CONTROL__SIGNING_KEYS", '{"demo": "demo-config-key-change-me"}'
        ),
        "GUARDIAN_CONTROL__ACTIVE_SIGNING_KEY": os.environ.get(
            "GUARDIAN_CONTROL__ACTIVE_SIGNING_KEY", "demo"
        ),
        # One redaction worker process: at the demo's 300 events/s it is busy a few percent
        # of a core (load_tests/report.md, bench_soak), and each worker holds its own Presidio
        # and spaCy (~175 MiB RSS). The shipped default stays 2.
        "GUARDIAN_REDACTION__WORKERS": os.environ.get("GUARDIAN_REDACTION__WORKERS", "1"),
        "PYTHONPATH": str(ROOT),
    }
    # The local-broker profile, unless set explicitly.
    return {**local_broker_env(), **env} if local else env


def _publisher_args(bootstrap: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "service.cli",
        "publish-demo",
        "--bootstrap-servers",
        bootstrap,
        "--rate",
        str(DEMO_RATE),
        "--count",
        str(DEMO_EVENTS),
        "--drift-at",
        "6000",
        "--bias-at",
        "6000",
        "--malformed-fraction",
        "0.01",
        "--label-delay",
        "3",
        "--quiet",
    ]


def _banner(port: int, bootstrap: str, workdir: Path) -> str:
    base = f"http://127.0.0.1:{port}"
    auth = f"Authorization: Bearer {DEMO_TOKEN}"
    bounded = (
        f"The publisher stops after {DEMO_EVENTS:,} events (about"
        f" {_duration(DEMO_EVENTS / DEMO_RATE)}) so the local broker's data stays"
        " bounded;\nGuardian keeps running. DEMO_EVENTS=0 publishes until Ctrl-C.\n"
        if DEMO_EVENTS
        else ""
    )
    return (
        "\nInference Guardian is running.\n"
        f"  API docs (OpenAPI):  {base}/docs\n"
        f"  Metrics:             {base}/metrics\n"
        f"  Readiness:           {base}/readyz\n"
        f"  Alerts:              curl -H '{auth}' {base}/v1/alerts\n"
        f"  Detectors:           curl -H '{auth}' {base}/v1/detectors\n"
        f"  Sanitized events:    kcat -C -b {bootstrap} -t inference.sanitized.short -e\n"
        f"  Logs:                {workdir}\n"
        f"The publisher sends {DEMO_RATE} events/s across three models; PII in prompts is"
        " redacted,\nincome drifts by 2 sigma and the credit model turns biased against gender=f"
        " after\nevent 6,000 (about 20 s in): watch the drift and fairness lines and the alerts.\n"
        + bounded
        + "Ctrl-C stops everything.\n"
    )


def _watch(
    procs: list[subprocess.Popen[bytes]], port: int, bootstrap: str, stopping: Callable[[], bool]
) -> bool:
    """Print the live summary until Ctrl-C; False when Guardian exits on its own."""
    started = time.monotonic()
    shown_samples = False
    publisher_done = False
    while not stopping():
        for _ in range(10):
            if stopping():
                break
            time.sleep(0.5)
        if procs[0].poll() is not None and not stopping():
            return False
        if not publisher_done and procs[1].poll() is not None:
            publisher_done = True
            _say(f"The publisher has stopped ({procs[1].returncode}); Guardian keeps running.")
        if not stopping():
            _summary(port, started)
            if not shown_samples and time.monotonic() - started > 8:
                _show_redacted(bootstrap)
                shown_samples = True
    return True


def main() -> int:
    port = int(os.environ.get("GUARDIAN_HTTP__PORT", "8080"))
    external = os.environ.get("GUARDIAN_KAFKA__BOOTSTRAP_SERVERS")
    broker: LocalBroker | None = None
    procs: list[subprocess.Popen[bytes]] = []
    workdir = Path(tempfile.mkdtemp(prefix="guardian-demo-"))
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        if external:
            bootstrap = external
            _say(f"Using Kafka at {bootstrap}")
        else:
            broker = LocalBroker(port=int(os.environ.get("DEMO_KAFKA_PORT", "9092")))
            _say(
                "Starting the local Kafka-compatible broker (noida-db) on "
                f"127.0.0.1:{broker.port} ..."
            )
            broker.start()
            bootstrap = broker.bootstrap
        env = _guardian_env(bootstrap, port, local=broker is not None)
        guardian_log = workdir / "guardian.log"
        _say("Starting Guardian ...")
        with guardian_log.open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "service.cli", "run"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=ROOT,
                    # Own session: Ctrl-C reaches only this runner, which stops the
                    # publisher, then Guardian, then the broker, in that order.
                    start_new_session=True,
                )
            )
        if not _ready(port):
            _say(f"Guardian did not become ready; its log: {guardian_log}")
            return 1
        with (workdir / "publisher.log").open("wb") as log:
            procs.append(
                subprocess.Popen(  # noqa: S603
                    _publisher_args(bootstrap),
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=ROOT,
                    # Own session: Ctrl-C reaches only this runner, which stops the
                    # publisher, then Guardian, then the broker, in that order.
                    start_new_session=True,
                )
            )
        _say(_banner(port, bootstrap, workdir))
        if not _watch(procs, port, bootstrap, lambda: stopping):
            _say(f"Guardian exited ({procs[0].returncode}); its log: {guardian_log}")
            return 1
        _say("\nStopping ...")
        return 0
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if broker is not None:
            with contextlib.suppress(Exception):
                broker.stop()
        _say("Demo stopped; nothing left running.")


if __name__ == "__main__":
    raise SystemExit(main())
