"""Two Guardians in one group: every detector readable, patchable and resettable through either.

Each replica seeds its own model, so each detector has exactly one holder; the
other replica answers from the holder's heartbeat on the membership topic.
Waits poll with a deadline (``eventually``); nothing asserts on timing.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api_helpers import api_settings, client_for, eventually, headers, seed_detector
from tests.kafka_helpers import free_port

pytestmark = pytest.mark.integration

FAST = {"heartbeat_interval_s": 0.5, "stale_after_s": 30.0}


async def _two(kafka_bootstrap: str, guardian_factory: Any) -> tuple[Any, Any]:
    base = api_settings(kafka_bootstrap, fleet=FAST)
    a = await guardian_factory(base.model_copy(update={"replica_id": "replica-a"}))
    b = await guardian_factory(
        base.model_copy(
            update={
                "replica_id": "replica-b",
                "http": base.http.model_copy(update={"port": free_port()}),
            }
        )
    )
    return a, b


async def _get(client: Any, path: str, **params: Any) -> Any:
    r = await client.get(path, params=params, headers=headers("viewer"))
    assert r.status_code == 200, r.text
    return r.json()


async def test_any_replica_answers_for_the_group(kafka_bootstrap: str, guardian_factory) -> None:  # type: ignore[no-untyped-def]
    a, b = await _two(kafka_bootstrap, guardian_factory)
    det_a = seed_detector(a, model="credit-risk")
    det_b = seed_detector(b, model="fraud-check")
    async with client_for(a.app) as ca, client_for(b.app) as cb:
        for client in (ca, cb):

            async def both_listed(client: Any = client) -> bool:
                got = await _get(client, "/v1/replicas")
                return {m["replica_id"] for m in got["items"]} == {"replica-a", "replica-b"}

            await eventually(both_listed, timeout_s=30)

            async def both_detectors(client: Any = client) -> bool:
                got = await _get(client, "/v1/detectors", feature="age")
                held = {(d["id"], d["replica"]) for d in got["items"]}
                return held == {(det_a, "replica-a"), (det_b, "replica-b")}

            await eventually(both_detectors, timeout_s=30)

        replicas = await _get(cb, "/v1/replicas")
        assert replicas["answered_by"] == "replica-b"
        by_id = {m["replica_id"]: m for m in replicas["items"]}
        assert by_id["replica-a"]["detectors"] == len(a.detectors.list_detectors())
        assert by_id["replica-b"]["this_replica"] and not by_id["replica-a"]["this_replica"]
        assert not by_id["replica-a"]["stale"]
        assert by_id["replica-a"]["config_version"] == a.control.current.version

        # Read through the replica that does not hold it: the holder is named.
        for client, det, holder in ((cb, det_a, "replica-a"), (ca, det_b, "replica-b")):
            got = await _get(client, f"/v1/detectors/{det}")
            assert got["replica"] == holder and got["reported_at"] is not None

        # PATCH through the other replica reaches the holder, and both show the result.
        for client, det, holder in ((cb, det_a, a), (ca, det_b, b)):
            r = await client.patch(
                f"/v1/detectors/{det}",
                json={"params": {"false_alarms_per_day": 0.004}},
                headers=headers("admin"),
            )
            assert r.status_code == 200, r.text
            assert r.json()["params"]["false_alarms_per_day"] == 0.004

            async def applied(det: str = det, holder: Any = holder) -> bool:
                return bool(holder.detectors.get(det).params["false_alarms_per_day"] == 0.004)

            await eventually(applied)

        async def summaries_show_patch() -> bool:
            held_a = b.fleet.holder_of(det_a)
            held_b = a.fleet.holder_of(det_b)
            return (
                held_a is not None
                and held_b is not None
                and held_a[1].params["false_alarms_per_day"] == 0.004
                and held_b[1].params["false_alarms_per_day"] == 0.004
            )

        await eventually(summaries_show_patch)

        # Reset through the other replica: its holder forgets, every replica shows it.
        for i in range(50):
            a.detectors.observe("credit-risk", "3.2.0", {"age": 40.0 + i % 3}, {}, ts=float(i))
        assert a.detectors.get(det_a).state["n_seen"] > 0
        r = await cb.post(f"/v1/detectors/{det_a}/reset", headers=headers("operator"))
        assert r.status_code == 202, r.text
        assert r.json()["replica"] == "replica-a"

        async def reset_on_holder() -> bool:
            return bool(a.detectors.get(det_a).state["n_seen"] == 0)

        await eventually(reset_on_holder)

        async def reset_shown_on_b() -> bool:
            got = await _get(cb, f"/v1/detectors/{det_a}")
            return bool(got["state"]["n_seen"] == 0)

        await eventually(reset_shown_on_b)

        # A detector nobody holds is a 404 on both.
        for client in (ca, cb):
            r = await client.get("/v1/detectors/nope/1/age/adwin", headers=headers("viewer"))
            assert r.status_code == 404
