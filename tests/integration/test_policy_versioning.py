"""Issue 15.1: policies apply by content, through the API and the pipeline (Kafka).

GET → edit → PUT keeping the policy's explicit ``version`` used to be reported
as applied while the analysis workers kept the old engine (cached by version).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
import pytest

from tests.api_helpers import api_settings, client_for, headers
from tests.kafka_helpers import drain, produce

pytestmark = pytest.mark.integration

ADMIN = headers("admin")
EMPLOYEE = {
    "name": "employee_id",
    "entity": "EMPLOYEE_ID",
    "patterns": [{"name": "emp", "regex": r"\bEMP-\d{6}\b", "score": 0.9}],
}


def event(text: str, **extra: Any) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "event_id": uuid.uuid4().hex,
            "timestamp": "2026-11-30T12:00:00.000Z",
            "model": {"name": "support-chat", "version": "1"},
            "inputs": {"text": text},
            "outputs": {"prediction": 1},
            **extra,
        }
    )


async def sanitized(bootstrap: str, topic: str, event_id: str, timeout_s: float = 30) -> Any:
    """The sanitized record of ``event_id`` on ``topic``; fails after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for message in await drain(bootstrap, topic, timeout_s=5, idle_s=1):
            if orjson.loads(message.value)["event_id"] == event_id:
                return message
    raise AssertionError(f"event {event_id} not on {topic} within {timeout_s}s")


async def test_redaction_edit_under_the_same_version_reaches_the_workers(
    kafka_bootstrap: str,
    guardian_factory: Any,
) -> None:
    # One analysis *process*: the engine cache under test lives in the worker processes.
    # NER off: the test is about the pattern rule the edit adds, not about names.
    settings = api_settings(kafka_bootstrap, redaction={"workers": 1, "spacy_model": None})
    guardian = await guardian_factory(settings)
    topics = settings.kafka.topics
    short = f"{topics.sanitized_prefix}short"
    async with client_for(guardian.app) as c:
        policy = (await c.get("/v1/policies/redaction", headers=ADMIN)).json()["policy"]
        policy["version"] = "2026-01"
        r = await c.put("/v1/policies/redaction", json=policy, headers=ADMIN)
        assert r.status_code == 200 and r.json()["version"] == "2026-01", r.text

        # The worker builds and caches the engine of version 2026-01 on this event.
        first = event("mail jane@example.com about EMP-123456")
        await produce(kafka_bootstrap, topics.events, [first])
        out = await sanitized(kafka_bootstrap, short, orjson.loads(first)["event_id"])
        text = orjson.loads(out.value)["inputs"]["text"]
        assert text == "mail <EMAIL_ADDRESS> about EMP-123456"

        # GET → edit → PUT with the same explicit version.
        policy = (await c.get("/v1/policies/redaction", headers=ADMIN)).json()["policy"]
        assert policy["version"] == "2026-01"
        policy["recognizers"] = [EMPLOYEE]
        policy["entities"] = [*policy["entities"], "EMPLOYEE_ID"]
        r = await c.put("/v1/policies/redaction", json=policy, headers=ADMIN)
        assert r.status_code == 200, r.text
        body = r.json()
        assert (
            body["version"].startswith("2026-01+") and len(body["version"]) == len("2026-01+") + 8
        )
        assert any("stored as " + body["version"] in note for note in body["notes"])
        audit = (await c.get("/v1/audit", headers=ADMIN)).json()["items"][0]
        assert audit["after"]["version"] == body["version"]
        assert any(body["version"] in note for note in audit["notes"])

        # An event published after the PUT is redacted by the new rule in the worker process.
        second = event("badge EMP-654321 of jane@example.com")
        await produce(kafka_bootstrap, topics.events, [second])
        out = await sanitized(kafka_bootstrap, short, orjson.loads(second)["event_id"])
        sanitized_event = orjson.loads(out.value)
        assert sanitized_event["inputs"]["text"] == "badge <EMPLOYEE_ID> of <EMAIL_ADDRESS>"
        assert dict(out.headers)["guardian-pii"] == b"EMAIL_ADDRESS,EMPLOYEE_ID"

        # The same content under the same version again changes nothing.
        policy = (await c.get("/v1/policies/redaction", headers=ADMIN)).json()["policy"]
        r = await c.put("/v1/policies/redaction", json=policy, headers=ADMIN)
        assert r.json()["version"] == body["version"] and r.json()["notes"] == []


async def test_retention_edit_under_the_same_version_is_versioned_anew(
    kafka_bootstrap: str,
    guardian_factory: Any,
) -> None:
    settings = api_settings(kafka_bootstrap)
    guardian = await guardian_factory(settings)
    topics = settings.kafka.topics
    async with client_for(guardian.app) as c:
        policy = (await c.get("/v1/policies/retention", headers=ADMIN)).json()["policy"]
        policy["version"] = "r1"
        r = await c.put("/v1/policies/retention", json=policy, headers=ADMIN)
        assert r.status_code == 200 and r.json()["version"] == "r1", r.text

        policy = (await c.get("/v1/policies/retention", headers=ADMIN)).json()["policy"]
        policy["classes"]["brief"] = {"duration": "2d"}
        pii = next(rule for rule in policy["rules"] if rule["name"] == "pii")
        pii["class"] = "brief"
        r = await c.put("/v1/policies/retention", json=policy, headers=ADMIN)
        assert r.status_code == 200, r.text
        version = r.json()["version"]
        assert version.startswith("r1+") and guardian.retention_policy.version == version
        assert any("stored as" in note for note in r.json()["notes"])

        sent = event("mail jane@example.com")
        await produce(kafka_bootstrap, topics.events, [sent])
        out = await sanitized(
            kafka_bootstrap, f"{topics.sanitized_prefix}brief", orjson.loads(sent)["event_id"]
        )
        record_headers = dict(out.headers)
        assert record_headers["guardian-retention-class"] == b"brief"
        assert record_headers["guardian-policy-version"] == version.encode()
        assert orjson.loads(out.value)["guardian"]["policy_version"] == version
