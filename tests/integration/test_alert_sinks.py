"""Alert delivery: Kafka, webhook and Alertmanager sinks, a real Alertmanager, runbook links."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from service.alerting import AlertEngine, AlertingSettings, AlertRules
from service.alerting.sinks import AlertmanagerSink, KafkaAlertSink, WebhookSink, build_sinks
from service.metrics import GuardianMetrics
from tests.integration.test_alert_engine import T0, drift, events, rules
from tests.promstack import running_alertmanager

# ------------------------------------------------------------------- sinks


async def test_kafka_sink_writes_json_and_never_raises() -> None:
    sent: list[tuple[str, bytes, bytes]] = []

    async def send(topic: str, key: bytes, value: bytes) -> None:
        sent.append((topic, key, value))

    metrics = GuardianMetrics(CollectorRegistry())
    engine = AlertEngine(rules(), metrics=metrics, sinks=[KafkaAlertSink(send, metrics=metrics)])
    engine.ingest(drift(), now=T0)
    await engine.step(T0 + 10)
    await engine.step(T0 + 1000)
    assert [orjson.loads(v)["event"] for _, _, v in sent] == ["firing", "resolved"]
    topic, key, value = sent[0]
    assert topic == "guardian.alerts"
    body = orjson.loads(value)
    assert key.decode() == body["alert"]["fingerprint"]
    assert body["alert"]["labels"]["feature"] == "age"

    async def broken(topic: str, key: bytes, value: bytes) -> None:
        raise RuntimeError("broker down")

    failing = KafkaAlertSink(broken, metrics=metrics)
    engine.sinks = [failing]
    engine.ingest(drift(feature="x"), now=T0 + 2000)
    await engine.step(T0 + 2010)  # does not raise
    assert (
        metrics.registry.get_sample_value(
            "guardian_alert_deliveries_total", {"sink": "kafka", "outcome": "failed"}
        )
        == 1
    )


def _transport(statuses: list[int], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = statuses.pop(0) if statuses else 200
        if status == 0:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(status)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    ("statuses", "requests", "outcomes"),
    [
        ([200], 1, {"sent": 1}),
        ([503, 0, 200], 3, {"retried": 2, "sent": 1}),
        ([400], 1, {"rejected": 1}),
        ([429, 200], 2, {"retried": 1, "sent": 1}),
        ([500, 500, 500], 3, {"retried": 2, "failed": 1}),
    ],
)
async def test_webhook_retries_with_backoff(
    statuses: list[int], requests: int, outcomes: dict[str, int]
) -> None:
    seen: list[httpx.Request] = []
    metrics = GuardianMetrics(CollectorRegistry())
    async with httpx.AsyncClient(transport=_transport(statuses, seen)) as client:
        sink = WebhookSink(
            "http://hook.example/alerts",
            token="tok-123",
            metrics=metrics,
            retries=2,
            backoff_seconds=0.001,
            client=client,
        )
        engine = AlertEngine(rules(), sinks=[sink])
        engine.ingest(drift(), now=T0)
        await engine.step(T0 + 10)
    assert len(seen) == requests
    assert seen[0].headers["authorization"] == "Bearer tok-123"
    body = orjson.loads(seen[0].content)
    assert body["changes"][0]["event"] == "firing"
    for outcome in ("sent", "retried", "rejected", "failed"):
        value = metrics.registry.get_sample_value(
            "guardian_alert_deliveries_total", {"sink": "webhook", "outcome": outcome}
        )
        assert (value or 0) == outcomes.get(outcome, 0), outcome


async def test_alertmanager_payload_resends_and_skips_silenced() -> None:
    seen: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=_transport([], seen)) as client:
        sink = AlertmanagerSink(
            "http://am.example:9093/",
            resend_interval=60,
            generator_url="http://guardian:8080",
            client=client,
            mirror_silences=False,  # tests/integration/test_silence_mirror.py covers the copies
        )
        engine = AlertEngine(rules(), sinks=[sink])
        engine.ingest(drift(), now=T0)
        await engine.step(T0 + 10)  # firing change + first refresh
        assert str(seen[0].url) == "http://am.example:9093/api/v2/alerts"
        (item,) = orjson.loads(seen[0].content)
        assert item["labels"]["alertname"] == "GuardianDriftDetected"
        assert item["annotations"]["runbook_url"].endswith("/GuardianDriftDetected.md")
        assert item["startsAt"] == "2023-11-14T22:13:30.000Z"
        assert item["endsAt"] == "2023-11-14T22:17:30.000Z"  # 4 resend intervals ahead
        assert item["generatorURL"].startswith("http://guardian:8080/v1/alerts/")
        count = len(seen)
        await engine.step(T0 + 30)
        assert len(seen) == count  # no resend before the interval
        engine.ingest(drift(), now=T0 + 50)  # keeps it firing (resolve_after 60 s)
        await engine.step(T0 + 71)
        assert len(seen) == count + 1  # periodic resend
        assert orjson.loads(seen[-1].content)[0]["endsAt"] == "2023-11-14T22:18:31.000Z"
        engine.add_silence([{"name": "model", "value": "credit-risk"}], T0 + 10_000, "ops", now=T0)
        engine.ingest(drift(), now=T0 + 100)
        await engine.step(T0 + 140)
        assert len(seen) == count + 1  # silenced: not resent although due
        await engine.step(T0 + 300)
        assert len(seen) == count + 2  # the resolution is sent even while silenced
        (resolved,) = orjson.loads(seen[-1].content)
        assert resolved["endsAt"] == "2023-11-14T22:18:20.000Z"


def test_build_sinks_from_settings() -> None:
    async def send(topic: str, key: bytes, value: bytes) -> None:
        return None

    settings = AlertingSettings(
        alertmanager_url="http://127.0.0.1:9093", webhook_url="http://127.0.0.1:9999/hook"
    )
    names = [s.name for s in build_sinks(settings, send=send)]
    assert names == ["kafka", "alertmanager", "webhook"]
    assert build_sinks(AlertingSettings()) == []


# ------------------------------------------------- a real Alertmanager process


async def test_real_alertmanager_receives_alert_and_resolution(tmp_path: Path) -> None:
    metrics = GuardianMetrics(CollectorRegistry())
    fast = rules(rules={"GuardianDriftDetected": {"for": 0, "resolve_after": "300ms"}})
    with running_alertmanager(tmp_path) as am:
        sink = AlertmanagerSink(am.url, metrics=metrics, retries=1, backoff_seconds=0.05)
        engine = AlertEngine(fast, metrics=metrics, sinks=[sink])
        await engine.start()
        try:
            now = time.time()
            engine.ingest(drift(model="credit-risk"), now=now)
            await engine.step(now)
            received = [
                a for a in am.alerts() if a["labels"].get("alertname") == "GuardianDriftDetected"
            ]
            assert len(received) == 1
            alert = received[0]
            assert alert["labels"]["model"] == "credit-risk"
            assert alert["labels"]["feature"] == "age"
            assert alert["labels"]["severity"] == "warning"
            assert alert["status"]["state"] == "active"
            assert alert["annotations"]["policy_version"] == "test-7"
            assert alert["annotations"]["runbook_url"].endswith("GuardianDriftDetected.md")

            # resolution: sent with endsAt = now; the firing endsAt was 4 minutes ahead,
            # so only the resolution can make Alertmanager drop it from the active list
            await asyncio.sleep(0.35)
            changes = await engine.step(time.time())
            assert events(changes) == ["resolved"]
            for _ in range(50):
                if not am.alerts():
                    break
                await asyncio.sleep(0.1)
            assert am.alerts() == []
            assert (
                metrics.registry.get_sample_value(
                    "guardian_alert_deliveries_total", {"sink": "alertmanager", "outcome": "sent"}
                )
                == 2
            )
        finally:
            await engine.close()


# ------------------------------------------------------------------ runbooks


@pytest.mark.parametrize(
    ("setting", "file_base", "expected"),
    [
        ("https://wiki.internal/guardian/", None, "https://wiki.internal/guardian/"),
        (
            "https://wiki.internal/guardian",
            "https://old.internal/rb",
            "https://wiki.internal/guardian/",
        ),
        (None, "https://old.internal/rb", "https://old.internal/rb/"),
        (None, None, "docs/runbooks/"),
    ],
)
def test_runbook_link_comes_from_the_setting(
    setting: str | None, file_base: str | None, expected: str
) -> None:
    data: dict[str, Any] = {"version": "t"}
    if file_base:
        data["runbook_url_base"] = file_base
    engine = AlertEngine(AlertRules.model_validate(data), runbook_base_url=setting)
    engine.ingest(drift(), now=T0)
    (change,) = engine.tick(T0)
    assert change.alert.runbook_url == f"{expected}GuardianDriftDetected.md"
    assert change.alert.annotations["runbook_url"] == change.alert.runbook_url


def test_runbook_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from service.settings import GuardianSettings

    monkeypatch.setenv("GUARDIAN_ALERTING__RUNBOOK_BASE_URL", "https://wiki.internal/guardian")
    settings = GuardianSettings()
    assert str(settings.alerting.runbook_base_url).rstrip("/") == "https://wiki.internal/guardian"
    monkeypatch.setenv("GUARDIAN_ALERTING__RUNBOOK_BASE_URL", "not a url")
    with pytest.raises(ValidationError, match="runbook_base_url"):
        GuardianSettings()
