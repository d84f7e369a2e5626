"""POST /v1/detectors/backtest: a model's sanitized events replayed through proposed
detectors, off the pipeline; bad specs or times are 422."""

from __future__ import annotations

import time

import numpy as np
import orjson
import pytest

from tests.api_helpers import api_settings, client_for, headers, running
from tests.e2e_streams import event
from tests.kafka_helpers import produce

pytestmark = pytest.mark.integration

RANK = {"defaults": {"numeric": [{"kind": "rank_window", "cooldown": 100_000}]}}


async def test_backtest_replays_the_model_through_proposed_specs(kafka_bootstrap: str) -> None:
    async with running(api_settings(kafka_bootstrap)) as guardian, client_for(guardian.app) as c:
        prefix = guardian.settings.kafka.topics.sanitized_prefix
        topic = prefix + sorted(guardian.retention_policy.classes)[0]
        rng = np.random.default_rng(21)
        x = np.concatenate([rng.lognormal(0, 1, 4000), rng.lognormal(0, 1, 1000) + 2.2])
        t0 = time.time() - 600
        mine = [
            orjson.dumps(event("credit", {"x": float(v)}, ts=t0 + i * 0.1)) for i, v in enumerate(x)
        ]
        other = [orjson.dumps(event("other", {"x": 1.0}, ts=t0)) for _ in range(50)]
        await produce(kafka_bootstrap, topic, mine, key=b"credit")
        await produce(kafka_bootstrap, topic, other, key=b"other")

        body = {"model": "credit", "since": "1h", "detectors": RANK}
        r = await c.post("/v1/detectors/backtest", json=body, headers=headers("operator"))
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["events"] == 5000 and not out["truncated"]
        assert [(a["feature"], a["detector"]) for a in out["alerts"]] == [("x", "rank_window")]
        assert 4000 <= out["alerts"][0]["n_seen"] <= 4400
        assert out["alarm_rate"] == pytest.approx(86_400 / out["span_seconds"])

        later = {"model": "credit", "since": "2099-01-01T00:00:00Z"}
        r = await c.post("/v1/detectors/backtest", json=later, headers=headers("operator"))
        assert r.status_code == 200 and r.json()["events"] == 0

        for bad, field in (
            ({"model": "credit", "since": "yesterday"}, "since"),
            ({"model": "credit", "detectors": {"defaults": {"numeric": [{"kind": "x"}]}}}, "x"),
        ):
            r = await c.post("/v1/detectors/backtest", json=bad, headers=headers("operator"))
            assert r.status_code == 422 and field in r.text, r.text
        r = await c.post("/v1/detectors/backtest", json=body, headers=headers("viewer"))
        assert r.status_code == 403
