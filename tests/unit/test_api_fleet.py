"""The detectors and replicas routes over a fake fleet port: no Kafka, no Guardian.

A second detector is held by "replica-b" (known from its heartbeat only): it is
listed, read, patched (validated against the holder's summary) and reset (a
request to its holder, 202) through this replica.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from service.fleet.records import DetectorSummary, Member
from tests.api_helpers import client_for, headers
from tests.unit.test_api_ports import DETECTOR_ID, World, world  # noqa: F401  (fixture)

REMOTE_ID = "fraud-check/1.0.0/amount/adwin"


class FakeFleet:
    replica_id = "replica-a"

    def __init__(self) -> None:
        self.summary = DetectorSummary(
            id=REMOTE_ID,
            model="fraud-check",
            version="1.0.0",
            feature="amount",
            type="numeric",
            kind="adwin",
            params={"delta": 0.002, "clock": 32, "warm_up": 0, "min_samples": 200, "cooldown": 0},
            state={"n_seen": 7, "n_detections": 0},
        )
        self.resets: list[tuple[str, str]] = []

    def members(self) -> list[Member]:
        return [
            Member(
                replica_id=r,
                partitions=[f"events[{i}]"],
                config_version=0,
                detectors=1,
                last_heartbeat=100.0,
                age_s=1.0,
                stale=False,
                this_replica=r == self.replica_id,
            )
            for i, r in enumerate(("replica-a", "replica-b"))
        ]

    def remote_detectors(self) -> list[tuple[str, DetectorSummary, float]]:
        return [("replica-b", self.summary, 100.0)]

    def holder_of(self, detector_id: str) -> tuple[str, DetectorSummary, float] | None:
        return ("replica-b", self.summary, 100.0) if detector_id == REMOTE_ID else None

    async def request_reset(self, detector_id: str, holder: str) -> None:
        self.resets.append((detector_id, holder))


@pytest.fixture
async def fleet_client(world: World) -> AsyncIterator[tuple[httpx.AsyncClient, FakeFleet]]:  # noqa: F811
    fleet = FakeFleet()
    world.app.state.ports = replace(world.app.state.ports, fleet=fleet)
    async with client_for(world.app) as c:
        yield c, fleet


async def test_replicas_listed(fleet_client: tuple[httpx.AsyncClient, FakeFleet]) -> None:
    client, _ = fleet_client
    assert (await client.get("/v1/replicas")).status_code == 401
    r = await client.get("/v1/replicas", headers=headers("viewer"))
    assert r.status_code == 200
    body = r.json()
    assert body["answered_by"] == "replica-a" and body["total"] == 2
    assert [m["replica_id"] for m in body["items"]] == ["replica-a", "replica-b"]


async def test_group_detectors_listed_and_read_with_their_holder(
    fleet_client: tuple[httpx.AsyncClient, FakeFleet],
) -> None:
    client, _ = fleet_client
    r = await client.get("/v1/detectors", headers=headers("viewer"))
    held = [(d["id"], d["replica"]) for d in r.json()["items"]]
    assert held == [(DETECTOR_ID, "replica-a"), (REMOTE_ID, "replica-b")]
    r = await client.get(
        "/v1/detectors", params={"model": "fraud-check"}, headers=headers("viewer")
    )
    assert [d["id"] for d in r.json()["items"]] == [REMOTE_ID]
    r = await client.get(f"/v1/detectors/{REMOTE_ID}", headers=headers("viewer"))
    assert r.status_code == 200
    assert r.json()["replica"] == "replica-b" and r.json()["reported_at"] == 100.0


async def test_remote_patch_validated_committed_and_shown(
    world: World,  # noqa: F811
    fleet_client: tuple[httpx.AsyncClient, FakeFleet],
) -> None:
    client, _ = fleet_client
    path = f"/v1/detectors/{REMOTE_ID}"
    r = await client.patch(path, json={"params": {"delta": -1}}, headers=headers("admin"))
    assert r.status_code == 422  # the holder's kind decides, as on the holder
    r = await client.patch(path, json={"params": {"delta": 0.01}}, headers=headers("admin"))
    assert r.status_code == 200, r.text
    assert world.store.current.detectors.patches == {REMOTE_ID: {"delta": 0.01}}
    assert r.json()["params"]["delta"] == 0.01 and r.json()["replica"] == "replica-b"
    # Until the holder's next heartbeat, the committed params are shown over its summary.
    r = await client.get(path, headers=headers("viewer"))
    assert r.json()["params"]["delta"] == 0.01


async def test_remote_reset_is_a_request_to_its_holder(
    world: World,  # noqa: F811
    fleet_client: tuple[httpx.AsyncClient, FakeFleet],
) -> None:
    client, fleet = fleet_client
    r = await client.post(f"/v1/detectors/{REMOTE_ID}/reset", headers=headers("operator"))
    assert r.status_code == 202, r.text
    assert fleet.resets == [(REMOTE_ID, "replica-b")]
    assert world.detectors.resets == 0
    r = await client.post("/v1/detectors/nope/1/x/adwin/reset", headers=headers("operator"))
    assert r.status_code == 404
