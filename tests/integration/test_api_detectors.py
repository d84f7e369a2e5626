"""Detectors, models and the audit trail of a change, against a started Guardian."""

from __future__ import annotations

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from tests.api_helpers import (
    NAMES,
    TOKENS,
    api_settings,
    client_for,
    headers,
    running,
    seed_detector,
)

pytestmark = pytest.mark.integration


async def _audit_topic(bootstrap: str, topic: str, n: int) -> list[dict]:  # type: ignore[type-arg]
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        found: list[dict] = []  # type: ignore[type-arg]
        for _ in range(50):
            batch = await consumer.getmany(timeout_ms=200)
            found += [orjson.loads(r.value) for rs in batch.values() for r in rs]
            if len(found) >= n:
                break
        return found
    finally:
        await consumer.stop()


async def test_patch_validates_applies_and_audits(kafka_bootstrap: str) -> None:
    settings = api_settings(kafka_bootstrap)
    async with running(settings) as guardian, client_for(guardian.app) as client:
        det = seed_detector(guardian)
        before = guardian.detectors.get(det).params

        # Unknown and out-of-range params: 422 naming both, nothing changes.
        r = await client.patch(
            f"/v1/detectors/{det}",
            json={"params": {"false_alarms_per_day": 500.0, "bogus": 1}},
            headers=headers("admin"),
        )
        assert r.status_code == 422, r.text
        fields = {d["field"] for d in r.json()["error"]["details"]}
        assert {"params.false_alarms_per_day", "params.bogus"} <= fields
        assert guardian.detectors.get(det).params == before
        assert guardian.control.current.version == 0

        # A viewer may read, not change.
        r = await client.patch(
            f"/v1/detectors/{det}",
            json={"params": {"false_alarms_per_day": 0.002}},
            headers=headers("viewer"),
        )
        assert r.status_code == 403
        assert (
            await client.get(f"/v1/detectors/{det}", headers=headers("viewer"))
        ).status_code == 200

        # A good patch is applied live, versioned and audited.
        r = await client.patch(
            f"/v1/detectors/{det}",
            json={"params": {"false_alarms_per_day": 0.002}},
            headers={**headers("admin"), "X-Request-ID": "req-42"},
        )
        assert r.status_code == 200, r.text
        assert r.headers["X-Request-ID"] == "req-42"
        assert r.json()["params"]["false_alarms_per_day"] == 0.002
        assert guardian.detectors.get(det).params["false_alarms_per_day"] == 0.002
        assert guardian.detectors.get(det).params["window_size"] == before["window_size"]
        assert guardian.control.current.version == 1
        assert guardian.control.current.detectors.patches == {det: {"false_alarms_per_day": 0.002}}

        r = await client.get(
            "/v1/audit", params={"object": f"detector:{det}"}, headers=headers("viewer")
        )
        [rec] = r.json()["items"]
        assert rec["actor"] == NAMES["admin"] and rec["role"] == "admin"
        assert rec["before"] == before and rec["after"] == {**before, "false_alarms_per_day": 0.002}
        assert rec["request_id"] == "req-42" and rec["method"] == "PATCH"
        assert rec["route"] == "/v1/detectors/{detector_id}"
        assert rec["config_version"] == 1

        on_topic = await _audit_topic(kafka_bootstrap, settings.kafka.topics.audit, 1)
        assert [x["id"] for x in on_topic] == [rec["id"]]
        assert (
            on_topic[0]["after"]["false_alarms_per_day"] == 0.002
            and on_topic[0]["actor"] == "alice"
        )
        raw = orjson.dumps(on_topic) + r.content
        for token in TOKENS.values():
            assert token.encode() not in raw
            assert token[:12].encode() not in raw

        # Reset (operator) is audited with the state before and after.
        guardian.detectors.observe("credit-risk", "3.2.0", {"age": 40.0}, {}, ts=1.0)
        r = await client.post(f"/v1/detectors/{det}/reset", headers=headers("operator"))
        assert r.status_code == 200 and r.json()["state"]["n_seen"] == 0
        r = await client.get(
            "/v1/audit", params={"actor": NAMES["operator"]}, headers=headers("viewer")
        )
        [rec] = r.json()["items"]
        assert (
            rec["action"] == "reset"
            and rec["before"]["n_seen"] == 1
            and rec["after"]["n_seen"] == 0
        )


async def test_list_filters_paging_and_models(kafka_bootstrap: str) -> None:
    async with running(api_settings(kafka_bootstrap)) as guardian, client_for(guardian.app) as c:
        seed_detector(guardian, "credit-risk")
        seed_detector(guardian, "fraud", "1.0")
        h = headers("viewer")
        body = (await c.get("/v1/detectors", params={"model": "fraud"}, headers=h)).json()
        assert body["total"] == 2 and {d["model"] for d in body["items"]} == {"fraud"}
        body = (
            await c.get("/v1/detectors", params={"kind": "rank_window", "limit": 1}, headers=h)
        ).json()
        assert body["total"] == 2 and len(body["items"]) == 1
        page2 = (
            await c.get(
                "/v1/detectors", params={"kind": "rank_window", "limit": 1, "offset": 1}, headers=h
            )
        ).json()
        assert page2["items"][0]["id"] != body["items"][0]["id"]
        assert (await c.get("/v1/detectors/nope/1/x/adwin", headers=h)).status_code == 404
        models = (await c.get("/v1/models", headers=h)).json()["items"]
        assert {(m["name"], tuple(m["versions"])) for m in models} == {
            ("credit-risk", ("3.2.0",)),
            ("fraud", ("1.0",)),
        }

        # Per-model defaults: validated, applied live (the detectors are rebuilt), audited.
        bad = {"numeric": [{"kind": "adwin", "params": {"delta": 7}}]}
        r = await c.put("/v1/models/fraud/detectors", json=bad, headers=headers("admin"))
        assert r.status_code == 422 and "delta" in r.text
        good = {"numeric": [{"kind": "page_hinkley", "params": {"threshold": 20.0}}]}
        r = await c.put("/v1/models/fraud/detectors", json=good, headers=headers("admin"))
        assert r.status_code == 200, r.text
        kinds = {d.kind for d in guardian.detectors.list_detectors(model="fraud", feature="age")}
        assert kinds == {"page_hinkley"}
        kinds = {
            d.kind for d in guardian.detectors.list_detectors(model="credit-risk", feature="age")
        }
        assert kinds == {"rank_window"}
        got = (await c.get("/v1/models/fraud/detectors", headers=h)).json()
        assert got["numeric"][0]["kind"] == "page_hinkley"
