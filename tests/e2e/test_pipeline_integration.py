"""The pipeline against a real broker: nothing lost, bad input to the DLQ, clean stops."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from service.demo.stream import DemoConfig, DemoStream
from tests.kafka_helpers import (
    drain,
    make_settings,
    process_log,
    produce,
    sanitized_topics,
    start_guardian_process,
    wait_ready,
)

pytestmark = pytest.mark.integration


def demo_records(n: int, seed: int = 1) -> list[bytes]:
    return [r.value for r in itertools.islice(DemoStream(DemoConfig(seed=seed)), n) if r.value]


def ids(messages: list) -> list[str]:  # type: ignore[type-arg]
    return [orjson.loads(m.value)["event_id"] for m in messages]


async def test_every_event_comes_out_sanitized_once(kafka_bootstrap: str, guardian_factory) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(kafka_bootstrap)
    guardian = await guardian_factory(settings)
    values = demo_records(600)
    await produce(kafka_bootstrap, settings.kafka.topics.events, values)
    out = await drain(kafka_bootstrap, sanitized_topics(settings), expect=600)
    sent_ids = [orjson.loads(v)["event_id"] for v in values]
    assert sorted(ids(out)) == sorted(sent_ids)
    registry = guardian.metrics.registry
    processed = sum(
        registry.get_sample_value("guardian_events_processed_total", {"model": m}) or 0
        for m in ("credit-risk", "support-chat", "fraud-detect")
    )
    assert processed == 600
    assert registry.get_sample_value("guardian_events_consumed_total") == 600
    # output is keyed by model name, so one model's events stay on one partition
    assert {m.key for m in out} == {b"credit-risk", b"support-chat", b"fraud-detect"}


MALFORMED = [
    (b"not json", "not_json"),
    (b"\xff\xfe\xfd", "invalid_utf8"),
    (b'{"schema_version": 1, "event_id": "x", "timestamp": 5}', "invalid_schema"),
    (b'{"schema_version": 1}', "invalid_schema"),
    (
        b'{"schema_version": 7, "event_id": "e", "timestamp": "2026-11-30T12:00:00Z",'
        b' "model": {"name": "m", "version": "1"}}',
        "unknown_schema_version",
    ),
    (b"[" * 5000 + b"]" * 5000, "too_deep"),
    (b'{"pad": "' + b"a" * 100_000 + b'"}', "too_large"),
]


async def test_malformed_input_goes_to_dlq_and_service_keeps_running(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, guardian_factory
) -> None:
    settings = make_settings(kafka_bootstrap, limits={"max_message_bytes": 65_536})
    guardian = await guardian_factory(settings)
    good = demo_records(30, seed=3)
    mixed: list[bytes] = []
    for i, (bad, _reason) in enumerate(MALFORMED):
        mixed.extend(good[i * 4 : i * 4 + 4])
        mixed.append(bad)
    mixed.extend(good[len(MALFORMED) * 4 :])
    await produce(kafka_bootstrap, settings.kafka.topics.events, mixed, key=b"m")
    dlq = await drain(kafka_bootstrap, settings.kafka.topics.dlq, expect=len(MALFORMED))
    out = await drain(kafka_bootstrap, sanitized_topics(settings), expect=len(good))
    assert len(out) == len(good)
    reasons = sorted(orjson.loads(m.value)["reason"] for m in dlq)
    assert reasons == sorted(r for _, r in MALFORMED)
    for m in dlq:
        header = dict(m.headers)["guardian-error"].decode()
        body = orjson.loads(m.value)
        assert header.startswith(body["reason"] + ":")
        assert b"aaaaaaaaaa" not in m.value  # payloads are scrubbed, not copied
    for _bad, reason in MALFORMED:
        count = guardian.metrics.registry.get_sample_value(
            "guardian_events_rejected_total", {"reason": reason}
        )
        assert count is not None and count >= 1


async def test_abrupt_kill_mid_stream_then_restart_loses_nothing(kafka_bootstrap: str) -> None:
    settings = make_settings(kafka_bootstrap)
    sanitized = sanitized_topics(settings)
    values = demo_records(20_000, seed=5)
    proc = start_guardian_process(settings, GUARDIAN_REPLICA_ID="r0")
    try:
        await wait_ready(settings.http.port)
        await produce(kafka_bootstrap, settings.kafka.topics.events, values)
        # kill -9 once some, but not all, output exists
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            partial = await drain(kafka_bootstrap, sanitized, idle_s=0.1, timeout_s=0.5)
            if partial:
                break
        proc.kill()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert 0 < len(partial) < len(values), "the kill must land mid-stream"
    restarted = start_guardian_process(settings, GUARDIAN_REPLICA_ID="r0")
    try:
        # Generous: the restarted replica builds its engines and redoes the rest of 20,000
        # events (each also written to the repartition topic) on a shared, loaded machine.
        out = await drain(kafka_bootstrap, sanitized, expect=len(values), timeout_s=180)
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=15)
    sent = {orjson.loads(v)["event_id"] for v in values}
    assert sent <= set(ids(out))


async def test_sigterm_exits_zero_within_ten_seconds(kafka_bootstrap: str) -> None:
    settings = make_settings(kafka_bootstrap)
    proc = start_guardian_process(settings)
    try:
        await wait_ready(settings.http.port)
        await produce(kafka_bootstrap, settings.kafka.topics.events, demo_records(2000, seed=9))
        await asyncio.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        # The contract: a SIGTERM'd Guardian exits within its 10 s drain budget.
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = process_log(proc)
    assert code == 0, stderr
    assert "Traceback" not in stderr


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat missing (apt-get install kcat)")
async def test_stream_published_by_kcat_comes_out_whole(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, guardian_factory, tmp_path: Path
) -> None:
    settings = make_settings(kafka_bootstrap)
    await guardian_factory(settings)
    values = demo_records(300, seed=11)
    data = tmp_path / "events.jsonl"
    data.write_bytes(b"\n".join(values) + b"\n")
    subprocess.run(
        ["kcat", "-P", "-b", kafka_bootstrap, "-t", settings.kafka.topics.events, "-l", str(data)],
        check=True,
        timeout=60,
        capture_output=True,
    )
    out = await drain(kafka_bootstrap, sanitized_topics(settings), expect=len(values))
    assert sorted(ids(out)) == sorted(orjson.loads(v)["event_id"] for v in values)
    # and kcat, a client nobody here wrote, reads the sanitized topics back
    lines = 0
    for topic in sanitized_topics(settings):
        result = subprocess.run(
            ["kcat", "-C", "-b", kafka_bootstrap, "-t", topic, "-e", "-q", "-o", "beginning"],
            check=False,
            timeout=60,
            capture_output=True,
        )
        lines += len(result.stdout.splitlines())
    assert lines == len(values)


async def test_starts_without_kafka_and_connects_when_it_appears() -> None:
    """No broker at start: health answers, readiness says no, and it connects later."""
    import httpx

    from service.kafka.broker import LocalBroker
    from tests.kafka_helpers import free_port

    port = free_port()
    settings = make_settings(f"127.0.0.1:{port}")
    proc = start_guardian_process(settings)
    broker = LocalBroker(port=port)
    try:
        base = f"http://127.0.0.1:{settings.http.port}"
        async with httpx.AsyncClient() as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = await client.get(f"{base}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline, process_log(proc)
                    await asyncio.sleep(0.2)
            assert health.status_code == 200
            ready = await client.get(f"{base}/readyz", timeout=1)
            assert ready.status_code == 503 and ready.json()["kafka_up"] is False
        await asyncio.to_thread(broker.start)
        await wait_ready(settings.http.port, timeout_s=60)
        values = demo_records(50, seed=13)
        await produce(broker.bootstrap, settings.kafka.topics.events, values)
        out = await drain(broker.bootstrap, sanitized_topics(settings), expect=len(values))
        assert sorted(ids(out)) == sorted(orjson.loads(v)["event_id"] for v in values)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        await asyncio.to_thread(broker.stop)
    assert "Traceback" not in process_log(proc)
