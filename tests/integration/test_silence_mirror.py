"""Silences made through Guardian are mirrored to Alertmanager and go away together.

Without the copy, a silence made with ``POST /v1/silences`` would mute only
Guardian's own pushes, and the same incident would keep notifying through the
Prometheus rules' alerts (fairness, health) that Alertmanager receives.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from prometheus_client import CollectorRegistry

from service.alerting import AlertEngine, AlertRules
from service.alerting.am_silences import silence_payload
from service.alerting.sinks import AlertmanagerSink
from service.metrics import GuardianMetrics
from tests.promstack import running_alertmanager

T0 = 1_700_000_000.0


def am_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp()


def post_alert(am_url: str, labels: dict[str, str]) -> None:
    now = time.time()
    body = [
        {
            "labels": labels,
            "annotations": {"summary": "from Prometheus"},
            "startsAt": datetime.fromtimestamp(now - 5, UTC).isoformat(),
            "endsAt": datetime.fromtimestamp(now + 600, UTC).isoformat(),
        }
    ]
    httpx.post(am_url + "/api/v2/alerts", json=body, timeout=5).raise_for_status()


async def test_a_guardian_silence_mutes_the_prometheus_alert_and_is_deleted_with_it(
    tmp_path: Path,
) -> None:
    metrics = GuardianMetrics(CollectorRegistry())
    with running_alertmanager(tmp_path) as am:
        sink = AlertmanagerSink(am.url, metrics=metrics, retries=0)
        engine = AlertEngine(AlertRules(), metrics=metrics, sinks=[sink])
        await engine.start()
        try:
            # the Prometheus rule's fairness alert for the model is in Alertmanager already
            fairness = {
                "alertname": "GuardianFairnessBreach",
                "model": "credit-risk",
                "attribute": "gender",
                "metric": "demographic_parity_ratio",
                "severity": "warning",
                "source": "prometheus",
                "job": "guardian",
            }
            post_alert(am.url, fairness)
            other = {**fairness, "model": "churn"}
            post_alert(am.url, other)

            now = time.time()
            silence = engine.add_silence(
                [{"name": "model", "value": "credit-risk"}],
                ends_at=now + 3600,
                created_by="oncall-bob",
                comment="retraining",
                now=now,
            )
            await engine.flush(now)

            (copy,) = am.get("/api/v2/silences")
            assert copy["status"]["state"] == "active"
            assert copy["matchers"] == [
                {"name": "model", "value": "credit-risk", "isRegex": False, "isEqual": True}
            ]
            assert abs(am_time(copy["endsAt"]) - silence.ends_at) < 0.01  # expire together
            assert copy["createdBy"] == "oncall-bob"
            assert silence.id in copy["comment"]
            assert sink.silences is not None
            assert sink.silences.alertmanager_id(silence.id) == copy["id"]

            states = {
                a["labels"]["model"]: a["status"]
                for a in am.get("/api/v2/alerts", active="true", silenced="true")
            }
            assert states["credit-risk"]["state"] == "suppressed"
            assert states["credit-risk"]["silencedBy"] == [copy["id"]]
            assert states["churn"]["state"] == "active"  # the matcher, not everything

            engine.delete_silence(silence.id)
            await engine.flush(time.time())
            (expired,) = am.get("/api/v2/silences")
            assert expired["status"]["state"] == "expired"
            states = {
                a["labels"]["model"]: a["status"]["state"]
                for a in am.get("/api/v2/alerts", active="true", silenced="true")
            }
            assert states["credit-risk"] == "active"
            assert (
                metrics.registry.get_sample_value(
                    "guardian_alert_deliveries_total",
                    {"sink": "alertmanager_silences", "outcome": "sent"},
                )
                == 2
            )
        finally:
            await engine.close()


def _transport(statuses: list[int], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = statuses.pop(0) if statuses else 200
        body: Any = {"silenceID": "am-1"} if request.url.path == "/api/v2/silences" else []
        return httpx.Response(status, json=body)

    return httpx.MockTransport(handler)


async def test_an_unreachable_alertmanager_gets_the_silence_on_a_later_flush() -> None:
    seen: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=_transport([503], seen)) as client:
        sink = AlertmanagerSink("http://am:9093", client=client, retries=0)
        engine = AlertEngine(AlertRules(), sinks=[sink])
        silence = engine.add_silence([{"name": "model", "value": "m"}], T0 + 600, "ops", now=T0)
        await engine.flush(T0)
        assert sink.silences is not None and sink.silences.alertmanager_id(silence.id) is None
        await engine.flush(T0 + 1)  # nothing new queued: the pending copy is retried
        assert sink.silences.alertmanager_id(silence.id) == "am-1"
        posts = [r for r in seen if r.url.path == "/api/v2/silences"]
        assert len(posts) == 2
        await engine.flush(T0 + 2)
        assert len([r for r in seen if r.url.path == "/api/v2/silences"]) == 2  # no duplicate


async def test_a_rejected_or_ended_silence_is_not_retried_and_a_late_delete_is_not_sent() -> None:
    seen: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=_transport([400], seen)) as client:
        sink = AlertmanagerSink("http://am:9093", client=client, retries=0)
        engine = AlertEngine(AlertRules(), sinks=[sink])
        engine.add_silence([{"name": "model", "value": "(?=x)"}], T0 + 600, "ops", now=T0)
        await engine.flush(T0)
        await engine.flush(T0 + 1)
        assert len(seen) == 1  # 4xx: dropped, not retried every second

        ended = engine.add_silence([{"name": "model", "value": "m"}], T0 + 10, "ops", now=T0)
        await engine.flush(T0 + 2)  # mirrored as am-1
        assert sink.silences is not None and sink.silences.alertmanager_id(ended.id) == "am-1"
        engine.delete_silence(ended.id)
        await engine.flush(T0 + 20)  # Alertmanager expired it at T0 + 10 already
        assert not [r for r in seen if r.method == "DELETE"]


def test_payload_carries_matchers_times_and_a_comment() -> None:
    engine = AlertEngine(AlertRules())
    silence = engine.add_silence(
        [{"name": "alertname", "value": "Guardian.*", "is_regex": True, "is_equal": False}],
        T0 + 60,
        "ops",
        now=T0,
    )
    payload = silence_payload(silence)
    assert payload["matchers"] == [
        {"name": "alertname", "value": "Guardian.*", "isRegex": True, "isEqual": False}
    ]
    assert payload["startsAt"] == "2023-11-14T22:13:20.000Z"
    assert payload["endsAt"] == "2023-11-14T22:14:20.000Z"
    assert payload["comment"] == f"Guardian silence {silence.id}"  # Alertmanager needs one
    orjson.dumps(payload)
