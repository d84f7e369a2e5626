"""Per-model performance thresholds through a started Guardian: the PUT goes through the
real config store (guardian.config), reaches the running monitor, is audited, and a
rollback undoes it."""

from __future__ import annotations

import pytest

from tests.api_helpers import api_settings, client_for, headers, running

pytestmark = pytest.mark.integration

ADMIN = headers("admin")
URL = "/v1/models/credit-risk/performance/thresholds"


async def test_thresholds_put_applies_live_audits_and_rolls_back(kafka_bootstrap: str) -> None:
    async with running(api_settings(kafka_bootstrap)) as guardian, client_for(guardian.app) as c:
        monitor = guardian.performance
        for i in range(50):  # a window that must survive the change
            outputs = {"score": (i % 10) / 10, "prediction": i % 2}
            monitor.observe("credit-risk", "1", outputs, event_id=f"e{i}")
        bad = await c.put(URL, json={"thresholds": {"accuracy": 2}}, headers=ADMIN)
        assert bad.status_code == 422 and "thresholds.accuracy" in bad.text
        assert guardian.control.current.version == 0

        r = await c.put(URL, json={"thresholds": {"accuracy": 0.8}}, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert monitor.config.for_model("credit-risk").thresholds == {"accuracy": 0.8}
        assert guardian.control.current.version == 1
        assert guardian.control.current.performance["models"][0]["model"] == "credit-risk"
        view = (await c.get("/v1/models/credit-risk/performance", headers=ADMIN)).json()
        assert view["window"]["events"] == 50 and view["thresholds"] == {"accuracy": 0.8}
        audit = await c.get("/v1/audit", params={"object": "model:credit-risk"}, headers=ADMIN)
        (record,) = audit.json()["items"]
        assert record["action"] == "set_performance_thresholds" and record["actor"] == "alice"
        assert record["after"]["thresholds"] == {"accuracy": 0.8}

        r = await c.post("/v1/config/rollback", json={"version": 0}, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert monitor.config.for_model("credit-risk").thresholds == {}
        assert (await c.get(URL, headers=ADMIN)).json()["thresholds"] == {}
