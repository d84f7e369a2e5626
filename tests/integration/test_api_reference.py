"""PUT /v1/models/{name}/reference: validated (422 naming the field), versioned, audited,
applied live: the model's budgeted detectors test against the profile."""

from __future__ import annotations

import numpy as np
import pytest

from tests.api_helpers import api_settings, client_for, headers, running

pytestmark = pytest.mark.integration

SPECS = {"numeric": [{"kind": "rank_window", "params": {"window_size": 100}, "cooldown": 1000}]}


def profile(center: float) -> dict[str, object]:
    probs = np.linspace(0.0, 1.0, 101)
    values = center + 10.0 * np.clip(np.sqrt(2) * _erfinv(2 * probs - 1), -4, 4)
    return {
        "source": "training-2026-10",
        "features": {
            "age": {"quantiles": {"probs": probs.tolist(), "values": values.tolist()}},
            "country": {"categories": {"DE": 0.6, "FR": 0.4}},
        },
    }


def _erfinv(y: np.ndarray) -> np.ndarray:
    from statistics import NormalDist

    inner = np.clip((y + 1) / 2, 1e-9, 1 - 1e-9)
    return np.array([NormalDist().inv_cdf(float(p)) for p in inner]) / np.sqrt(2)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"features": {}}, "features"),
        ({"features": {"age": {}}}, "features.age"),
        ({"features": {"age": {"quantiles": {"probs": [0, 1], "values": [3, 1]}}}}, "values"),
        ({"features": {"age": {"histogram": {"edges": [0, 1], "counts": [1, 2]}}}}, "counts"),
        ({"features": {"c": {"categories": {"a": -1.0}}}}, "features.c"),
        ({"features": {"age": {"quantiles": {"probs": [0, 1], "values": [0, 1]}}}, "x": 1}, "x"),
    ],
)
async def test_invalid_profile_is_422_naming_the_field(
    kafka_bootstrap: str, body: dict[str, object], field: str
) -> None:
    async with running(api_settings(kafka_bootstrap)) as guardian, client_for(guardian.app) as c:
        r = await c.put("/v1/models/m/reference", json=body, headers=headers("admin"))
        assert r.status_code == 422 and field in r.text, r.text
        assert (await c.get("/v1/models/m/reference", headers=headers("viewer"))).json() is None


async def test_profile_is_stored_audited_and_detectors_test_against_it(
    kafka_bootstrap: str,
) -> None:
    settings = api_settings(kafka_bootstrap)
    async with running(settings) as guardian, client_for(guardian.app) as c:
        r = await c.put("/v1/models/credit/detectors", json=SPECS, headers=headers("admin"))
        assert r.status_code == 200, r.text
        r = await c.put("/v1/models/credit/reference", json=profile(40.0), headers=headers("admin"))
        assert r.status_code == 200, r.text
        assert r.json()["source"] == "training-2026-10"
        got = (await c.get("/v1/models/credit/reference", headers=headers("viewer"))).json()
        assert got["features"]["country"]["categories"] == {"DE": 0.6, "FR": 0.4}
        audit = (await c.get("/v1/audit", headers=headers("admin"))).json()["items"]
        (rec,) = [a for a in audit if a["action"] == "set_reference"]
        assert rec["after"] == {"source": "training-2026-10", "features": ["age", "country"]}

        # Serving data 1.5 sd above the training profile: found against the reference,
        # though the stream itself is stationary (a sliding reference would never see it).
        reg = guardian.detectors
        rng = np.random.default_rng(5)
        found = []
        for i, age in enumerate(rng.normal(55.0, 10.0, 400)):
            found += reg.observe("credit", "1", {"age": float(age)}, {}, ts=i / 10.0)
        assert [h.feature for h in found] == ["age"] and found[0].n_seen <= 200
        assert found[0].details["reference_kind"] == 2.0
        assert {"psi", "jensen_shannon", "wasserstein", "ks"} <= set(found[0].details)

        r = await c.delete("/v1/models/credit/reference", headers=headers("admin"))
        assert r.status_code == 204
        assert (
            await c.get("/v1/models/credit/reference", headers=headers("viewer"))
        ).json() is None
