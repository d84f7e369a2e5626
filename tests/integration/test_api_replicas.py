"""Two Guardians in one consumer group: a change through one is applied by the other."""

from __future__ import annotations

import pytest

from tests.api_helpers import (
    NAMES,
    api_settings,
    client_for,
    eventually,
    headers,
    seed_detector,
)
from tests.kafka_helpers import free_port

pytestmark = pytest.mark.integration


async def test_patch_on_one_replica_is_applied_by_the_other(
    kafka_bootstrap: str, guardian_factory
) -> None:  # type: ignore[no-untyped-def]
    base = api_settings(kafka_bootstrap)
    a = await guardian_factory(base.model_copy(update={"replica_id": "replica-a"}))
    b = await guardian_factory(
        base.model_copy(
            update={
                "replica_id": "replica-b",
                "http": base.http.model_copy(update={"port": free_port()}),
            }
        )
    )
    det = seed_detector(a)
    assert seed_detector(b) == det
    async with client_for(a.app) as ca, client_for(b.app) as cb:
        r = await ca.patch(
            f"/v1/detectors/{det}",
            json={"params": {"false_alarms_per_day": 0.004}},
            headers=headers("admin"),
        )
        assert r.status_code == 200, r.text

        async def applied_on_b() -> bool:
            got = await cb.get(f"/v1/detectors/{det}", headers=headers("viewer"))
            return bool(got.json()["params"]["false_alarms_per_day"] == 0.004)

        seconds = await eventually(applied_on_b, timeout_s=10)
        assert seconds < 10
        config_b = (await cb.get("/v1/config", headers=headers("viewer"))).json()
        assert config_b["version"] == 1 and config_b["updated_by"] == NAMES["admin"]

        async def audited_on_b() -> bool:
            got = await cb.get(
                "/v1/audit", params={"object": "detector"}, headers=headers("viewer")
            )
            return got.json()["total"] == 1

        await eventually(audited_on_b)

        # A second patch of the same detector merges with the first on every replica.
        r = await ca.patch(
            "/v1/detectors/credit-risk/3.2.0/age/rank_window",
            json={"params": {"check_every": 16}},
            headers=headers("admin"),
        )
        await eventually(lambda: _params_of(cb, det, "check_every", 16))

        # B writes next: A follows, versions keep increasing across replicas.
        r = await cb.put(
            "/v1/models/credit-risk/detectors",
            json={"score": [{"kind": "adwin", "params": {"delta": 0.01}}]},
            headers=headers("admin"),
        )
        assert r.status_code == 200, r.text
        assert b.control.current.version == 3

        async def a_follows() -> bool:
            return a.control.current.version == 3

        await eventually(a_follows)

    # A new replica starts from the latest config.
    c = await guardian_factory(base.model_copy(update={"replica_id": "replica-c"}))
    assert c.control.current.version == 3
    assert c.control.current.detectors.patches[det] == {
        "false_alarms_per_day": 0.004,
        "check_every": 16,
    }
    # Its detectors are created by traffic after start; they get the patched params.
    assert seed_detector(c) == det
    await eventually(lambda: _direct(c, det))


async def _params_of(client, det: str, key: str, value: object) -> bool:  # type: ignore[no-untyped-def]
    got = await client.get(f"/v1/detectors/{det}", headers=headers("viewer"))
    return bool(got.json()["params"][key] == value)


async def _direct(guardian, det: str) -> bool:  # type: ignore[no-untyped-def]
    return bool(guardian.detectors.get(det).params["false_alarms_per_day"] == 0.004)
