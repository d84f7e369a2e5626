"""Policies: validation with the policies' own messages, live apply, topics, dry-runs."""

from __future__ import annotations

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from tests.api_helpers import api_settings, client_for, headers, post_dry_run, running

pytestmark = pytest.mark.integration

ADMIN = headers("admin")


async def test_redaction_put_validates_applies_and_dry_run_redacts(kafka_bootstrap: str) -> None:
    async with running(api_settings(kafka_bootstrap)) as guardian, client_for(guardian.app) as c:
        before = guardian.redactor.policy
        r = await c.put(
            "/v1/policies/redaction",
            json={"score_threshold": 3, "entities": ["NOPE"]},
            headers=ADMIN,
        )
        assert r.status_code == 422
        assert "score_threshold" in r.text and r.json()["error"]["code"] == "validation_failed"
        r = await c.put(
            "/v1/policies/redaction",
            json={"fields": {"inputs.features.email": "hmac"}},
            headers=ADMIN,
        )
        assert r.status_code == 422 and "HMAC key" in r.text  # no key configured here
        assert guardian.redactor.policy is before and guardian.control.current.version == 0

        policy = (await c.get("/v1/policies/redaction", headers=ADMIN)).json()["policy"]
        policy["entities"] = ["PHONE_NUMBER"]  # e-mail addresses no longer redacted
        r = await c.put("/v1/policies/redaction", json=policy, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert guardian.redactor.policy.entities == ["PHONE_NUMBER"]
        assert r.json()["version"] == guardian.redactor.policy.version != before.version

        sample = {"inputs": {"text": "write to jane@example.com"}, "metadata": {}}
        r = await c.post(
            "/v1/policies/redaction/dry-run", json={"event": sample}, headers=headers("operator")
        )
        assert (
            r.status_code == 200 and r.json()["event"]["inputs"]["text"] == sample["inputs"]["text"]
        )
        r = await c.put(
            "/v1/policies/redaction", json={**policy, "entities": ["EMAIL_ADDRESS"]}, headers=ADMIN
        )
        r = await post_dry_run(c, "/v1/policies/redaction/dry-run", {"event": sample}, ADMIN)
        body = r.json()
        assert "jane@example.com" not in r.text
        assert body["redactions"] == [
            {"path": "inputs.text", "entity": "EMAIL_ADDRESS", "operator": "replace", "count": 1}
        ]
        # The dry-run sample is not audited (only the two PUTs are).
        audit = (await c.get("/v1/audit", headers=ADMIN)).json()
        assert audit["total"] == 2 and "jane" not in str(audit)
        assert audit["items"][0]["before"]["entities"] == ["PHONE_NUMBER"]
        assert audit["items"][0]["after"]["entities"] == ["EMAIL_ADDRESS"]


async def test_retention_put_creates_topics_and_dry_run(kafka_bootstrap: str) -> None:
    settings = api_settings(kafka_bootstrap)
    async with running(settings) as guardian, client_for(guardian.app) as c:
        r = await c.put(
            "/v1/policies/retention",
            json={"default_class": "missing", "classes": {"a": {"duration": "1d"}}},
            headers=ADMIN,
        )
        assert r.status_code == 422
        assert any(
            "default_class" in (d["field"] or "") + d["message"]
            for d in r.json()["error"]["details"]
        )
        policy = {
            "default_class": "standard",
            "classes": {"brief": {"duration": "2d"}, "standard": {"duration": "30d"}},
            "rules": [{"name": "pii", "match": {"entities": {"any_of": ["*"]}}, "class": "brief"}],
        }
        r = await c.put("/v1/policies/retention", json=policy, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert guardian.retain.policy is guardian.retention_policy
        assert set(guardian.retention_policy.classes) == {"brief", "standard"}
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            topics = set(await admin.list_topics())
        finally:
            await admin.close()
        assert f"{settings.kafka.topics.sanitized_prefix}brief" in topics

        event = {"timestamp": "2026-11-30T12:00:00Z", "model": {"name": "m", "version": "1"}}
        r = await c.post(
            "/v1/policies/retention/dry-run",
            json={"event": event, "entities": ["EMAIL_ADDRESS"]},
            headers=ADMIN,
        )
        assert r.json()["class"] == "brief" and r.json()["rule"] == "pii"
        assert r.json()["expires_at"] == "2026-12-02T12:00:00.000Z"
        r = await post_dry_run(c, "/v1/policies/retention/dry-run", {"event": event}, ADMIN)
        assert r.json()["class"] == "standard" and r.json()["rule"] is None
        r = await c.post(
            "/v1/policies/retention/dry-run",
            json={"event": {**event, "timestamp": "yesterday"}},
            headers=ADMIN,
        )
        assert r.status_code == 422

        # Rollback to version 0 restores the file's policy as a new version.
        r = await c.post("/v1/config/rollback", json={"version": 0}, headers=ADMIN)
        assert r.status_code == 200 and r.json()["version"] == 2
        assert "brief" not in guardian.retention_policy.classes
        r = await c.post("/v1/config/rollback", json={"version": 99}, headers=ADMIN)
        assert r.status_code == 404


async def test_validation_errors_have_one_shape(kafka_bootstrap: str) -> None:
    async with running(api_settings(kafka_bootstrap)) as guardian, client_for(guardian.app) as c:
        r = await c.get("/v1/detectors", params={"limit": 0}, headers=ADMIN)
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "query.limit"
        r = await c.post(
            "/v1/silences", json={"matchers": [], "ends_at": "x", "secret": "s3"}, headers=ADMIN
        )
        fields = {d["field"] for d in r.json()["error"]["details"]}
        assert {"body.matchers", "body.ends_at", "body.secret"} <= fields
        assert "s3" not in r.text.replace("body.secret", "")
        r = await c.post(
            "/v1/silences",
            json={
                "matchers": [{"name": "m", "value": "(", "is_regex": True}],
                "ends_at": "2099-01-01T00:00:00Z",
            },
            headers=ADMIN,
        )
        assert r.status_code == 422
