"""The control plane against fakes of its ports: every router, no Kafka, no Guardian.

Each router is checked for authentication (no token, a too-weak role), one
read and one write, and the write's audit record. The ports are the
Protocols of :mod:`service.api.ports`; the fakes below keep their state in
memory. The alert engine and the policy holder are the real classes: both are
in-memory logic that needs no broker.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from detectors.registry import DetectorInfo, UnknownDetectorError
from detectors.results import DriftResult
from service.alerting.engine import AlertEngine
from service.alerting.rules import load_rules
from service.api.app import create_app
from service.api.ports import ApiPorts, DetectorAdmin, detector_admin
from service.control.audit import AuditIndex, AuditQuery, AuditRecord
from service.control.document import ConfigDocument, DetectorConfig, utc_now
from service.control.live import redaction_mapping
from service.control.policies import LivePolicies
from service.control.store import StaleWrite
from service.metrics import GuardianMetrics
from service.redaction.policy import RedactionPolicy
from service.retention import RetentionPolicy
from service.settings import GuardianSettings, resolve_config_path
from tests.api_helpers import client_for, headers, token_specs

DETECTOR_ID = "credit-risk/3.2.0/age/adwin"


# -- fakes -------------------------------------------------------------------------------------


class FakeDetectors:
    """One detector; ``reset`` zeroes its state."""

    def __init__(self) -> None:
        self.info = DetectorInfo(
            id=DETECTOR_ID,
            model="credit-risk",
            version="3.2.0",
            feature="age",
            type="numeric",
            kind="adwin",
            params={"delta": 0.002, "clock": 32, "warm_up": 0, "min_samples": 200, "cooldown": 0},
            state={"n_seen": 10, "n_detections": 1, "drift_detected": False},
        )
        self.resets = 0

    def list_detectors(
        self,
        model: str | None = None,
        version: str | None = None,
        feature: str | None = None,
        kind: str | None = None,
    ) -> list[DetectorInfo]:
        return [self.info] if model in (None, self.info.model) else []

    def get(self, detector_id: str) -> DetectorInfo:
        if detector_id != self.info.id:
            raise UnknownDetectorError(detector_id)
        return self.info

    def reset(self, detector_id: str) -> DetectorInfo:
        self.get(detector_id)
        self.resets += 1
        self.info = replace(self.info, state={"n_seen": 0, "n_detections": 0})
        return self.info


@dataclass
class FakeModels:
    versions: dict[str, set[str]] = field(default_factory=lambda: {"credit-risk": {"3.2.0"}})


@dataclass
class FakeReadiness:
    ready: bool = False
    status: dict[str, Any] = field(default_factory=lambda: {"kafka": False, "assigned": 0})


class FakeStore:
    """Versions in memory; ``down`` makes every write fail as an unreachable Kafka does."""

    def __init__(self, baseline: ConfigDocument) -> None:
        self.current = baseline
        self.history = {baseline.version: baseline}
        self.audit = AuditIndex(100)
        self.down = False

    async def commit(
        self, actor: str, change: Callable[[ConfigDocument], dict[str, Any]], comment: str = ""
    ) -> tuple[ConfigDocument, ConfigDocument]:
        if self.down:
            raise StaleWrite("kafka is down")
        before = self.current
        after = before.successor(before.version, actor, "fake", comment=comment, **change(before))
        self.current = self.history[after.version] = after
        return before, after

    async def write_audit(self, record: AuditRecord) -> None:
        if self.down:
            raise StaleWrite("kafka is down")
        self.audit.add(record)


class NoDryRuns:
    def admit(self, principal: Any) -> None:
        raise AssertionError("no dry run expected")

    async def redact(self, policy: Any, event: dict[str, Any]) -> Any:
        raise AssertionError("no dry run expected")


# -- the app over the fakes --------------------------------------------------------------------


@dataclass
class World:
    app: Any
    detectors: FakeDetectors
    readiness: FakeReadiness
    store: FakeStore
    alerts: AlertEngine
    registry: CollectorRegistry


def _settings() -> GuardianSettings:
    auth = {"tokens": token_specs(), "max_failures_per_minute": 1000}
    return GuardianSettings.load(None, auth=auth)


@pytest.fixture
def world() -> Iterator[World]:
    settings = _settings()
    registry = CollectorRegistry()
    metrics = GuardianMetrics(registry)
    redaction = RedactionPolicy.from_yaml(resolve_config_path(settings.redaction.policy_file))
    retention = RetentionPolicy.from_file(resolve_config_path(settings.retention.policy_file))
    redactor = SimpleNamespace(policy=redaction, ner_model=None)
    policies = LivePolicies(
        redactor,  # type: ignore[arg-type]
        retention,
        settings.redaction,
        settings.retention,
        settings.kafka.topics.sanitized_prefix,
    )
    store = FakeStore(
        ConfigDocument(
            version=0,
            redaction=redaction_mapping(redaction),
            retention=retention.to_mapping(),
            detectors=DetectorConfig(specs={}),
            fairness=None,
            updated_by="<files>",
            updated_at=utc_now(),
            origin="fake",
        )
    )
    alerts = AlertEngine(load_rules(), metrics)
    detectors, readiness = FakeDetectors(), FakeReadiness()
    ports = ApiPorts(
        detectors=detectors,
        models=FakeModels(),
        policies=policies,
        store=store,
        alerts=alerts,
        readiness=readiness,
        dry_runs=NoDryRuns(),
        count_override=metrics.policy_overrides.inc,
    )
    yield World(create_app(settings, ports, metrics), detectors, readiness, store, alerts, registry)


@pytest.fixture
async def client(world: World) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(world.app) as c:
        yield c


def _last_audit(world: World) -> AuditRecord:
    total, items = world.store.audit.query(AuditQuery(limit=1))
    assert total >= 1
    return items[0]


# -- health ------------------------------------------------------------------------------------


async def test_health_needs_no_token_and_readiness_follows_its_port(
    world: World, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/healthz")).status_code == 200
    r = await client.get("/readyz")
    assert r.status_code == 503 and r.json() == {"ready": False, "kafka": False, "assigned": 0}
    world.readiness.ready = True
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.get("/v1/config")).status_code == 401


# -- detectors ---------------------------------------------------------------------------------


async def test_detectors_read_patch_and_reset(world: World, client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/detectors")).status_code == 401
    r = await client.get("/v1/detectors", headers=headers("viewer"))
    assert r.status_code == 200 and [d["id"] for d in r.json()["items"]] == [DETECTOR_ID]
    path = f"/v1/detectors/{DETECTOR_ID}"
    assert (await client.get(f"{path}x", headers=headers("viewer"))).status_code == 404

    patch = {"params": {"delta": 0.01}}
    assert (await client.patch(path, json=patch, headers=headers("operator"))).status_code == 403
    r = await client.patch(path, json=patch, headers=headers("admin"))
    assert r.status_code == 200, r.text
    assert world.store.current.version == 1
    assert world.store.current.detectors.patches == {DETECTOR_ID: {"delta": 0.01}}
    record = _last_audit(world)
    assert (record.actor, record.object, record.action) == (
        "alice",
        f"detector:{DETECTOR_ID}",
        "patch_params",
    )

    r = await client.post(f"{path}/reset", headers=headers("operator"))
    assert r.status_code == 200 and r.json()["state"]["n_seen"] == 0
    assert world.detectors.resets == 1
    assert _last_audit(world).action == "reset"


async def test_a_port_can_be_swapped_with_dependency_overrides(
    world: World, client: httpx.AsyncClient
) -> None:
    class Empty(FakeDetectors):
        def list_detectors(self, *args: Any, **kwargs: Any) -> list[DetectorInfo]:
            return []

    empty: DetectorAdmin = Empty()
    world.app.dependency_overrides[detector_admin] = lambda: empty
    r = await client.get("/v1/detectors", headers=headers("viewer"))
    assert r.status_code == 200 and r.json()["total"] == 0


async def test_kafka_down_is_a_503_and_the_action_is_named(
    world: World, client: httpx.AsyncClient
) -> None:
    world.store.down = True
    r = await client.post(f"/v1/detectors/{DETECTOR_ID}/reset", headers=headers("operator"))
    assert r.status_code == 503 and "audit record" in r.json()["error"]["message"]
    r = await client.patch(
        f"/v1/detectors/{DETECTOR_ID}", json={"params": {"delta": 0.01}}, headers=headers("admin")
    )
    assert r.status_code == 503 and world.store.current.version == 0


# -- models ------------------------------------------------------------------------------------


async def test_models_list_what_the_catalog_saw_and_set_defaults(
    world: World, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/v1/models")).status_code == 401
    r = await client.get("/v1/models", headers=headers("viewer"))
    assert r.status_code == 200
    assert r.json()["items"] == [
        {"name": "credit-risk", "versions": ["3.2.0"], "detectors": 1, "defaults": None}
    ]
    body = {"numeric": [{"kind": "adwin"}]}
    url = "/v1/models/credit-risk/detectors"
    assert (await client.put(url, json=body, headers=headers("operator"))).status_code == 403
    r = await client.put(url, json=body, headers=headers("admin"))
    assert r.status_code == 200, r.text
    overrides = world.store.current.detectors.specs["overrides"]
    assert [(o["model"], o["type"]) for o in overrides] == [("credit-risk", "numeric")]
    assert _last_audit(world).object == "model:credit-risk"


# -- policies ----------------------------------------------------------------------------------


async def test_policies_read_and_replace(world: World, client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/policies/retention")).status_code == 401
    r = await client.get("/v1/policies/retention", headers=headers("viewer"))
    assert r.status_code == 200 and r.json()["config_version"] == 0
    policy = r.json()["policy"]
    policy["version"] = "ports-test"
    url = "/v1/policies/retention"
    assert (await client.put(url, json=policy, headers=headers("operator"))).status_code == 403
    r = await client.put(url, json=policy, headers=headers("admin"))
    assert r.status_code == 200, r.text
    assert world.store.current.retention["version"] == "ports-test"
    assert _last_audit(world).object == "policy:retention"

    bad = {**policy, "classes": {}}
    r = await client.put(url, json=bad, headers=headers("admin"))
    assert r.status_code == 422 and world.store.current.version == 1

    r = await client.get("/v1/policies/redaction", headers=headers("viewer"))
    assert r.status_code == 200 and r.json()["policy"]["entities"]


# -- alerts and silences -----------------------------------------------------------------------


def _seed_alert(engine: AlertEngine) -> str:
    now = time.time()
    engine.ingest(
        DriftResult(
            model="credit-risk",
            version="3.2.0",
            feature="age",
            detector="adwin",
            detector_id=DETECTOR_ID,
            statistic=1.0,
            at=now,
            n_seen=500,
            details={},
        ),
        now=now,
    )
    return engine.list_alerts()[0].id


async def test_alerts_ack_and_silences(world: World, client: httpx.AsyncClient) -> None:
    alert_id = _seed_alert(world.alerts)
    assert (await client.get("/v1/alerts")).status_code == 401
    r = await client.get("/v1/alerts", headers=headers("viewer"))
    assert r.status_code == 200 and [a["id"] for a in r.json()["items"]] == [alert_id]
    ack = f"/v1/alerts/{alert_id}/ack"
    assert (await client.post(ack, headers=headers("viewer"))).status_code == 403
    r = await client.post(ack, headers=headers("operator"))
    assert r.status_code == 200 and r.json()["acknowledged_by"] == "otto"
    assert _last_audit(world).action == "ack"

    silence = {
        "matchers": [{"name": "model", "value": "credit-risk"}],
        "ends_at": "2999-01-01T00:00:00Z",
        "comment": "maintenance",
    }
    r = await client.post("/v1/silences", json=silence, headers=headers("operator"))
    assert r.status_code == 201, r.text
    r = await client.get("/v1/silences", headers=headers("viewer"))
    assert [s["created_by"] for s in r.json()["items"]] == ["otto"]
    assert _last_audit(world).object.startswith("silence:")


# -- audit and config --------------------------------------------------------------------------


async def test_audit_config_and_rollback(world: World, client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/audit")).status_code == 401
    r = await client.patch(
        f"/v1/detectors/{DETECTOR_ID}", json={"params": {"delta": 0.01}}, headers=headers("admin")
    )
    assert r.status_code == 200
    r = await client.get("/v1/audit", headers=headers("viewer"))
    assert r.status_code == 200 and r.json()["total"] == 1
    r = await client.get("/v1/config", headers=headers("viewer"))
    assert r.json()["version"] == 1
    r = await client.get("/v1/config/versions", headers=headers("viewer"))
    assert r.json()["current"] == 1

    rollback = {"version": 0}
    url = "/v1/config/rollback"
    assert (await client.post(url, json=rollback, headers=headers("operator"))).status_code == 403
    r = await client.post(url, json=rollback, headers=headers("admin"))
    assert r.status_code == 200 and r.json()["version"] == 2
    assert world.store.current.detectors.patches == {}
    assert _last_audit(world).action == "rollback_to_v0"


# -- the false-alarm budget --------------------------------------------------------------------


async def test_budget_reads_and_sets_with_422_naming_the_field(
    world: World, client: httpx.AsyncClient
) -> None:
    url = "/v1/detectors/budget"
    assert (await client.get(url)).status_code == 401
    r = await client.get(url, headers=headers("viewer"))  # not taken for a detector id
    assert r.status_code == 200 and r.json()["false_alarms_per_stream_per_day"] == 0.01
    body = {"false_alarms_per_stream_per_day": 0.001, "false_alarms_per_model_per_day": 0.02}
    assert (await client.put(url, json=body, headers=headers("operator"))).status_code == 403
    bad = {"false_alarms_per_stream_per_day": -1, "false_alarms_per_mode_per_day": 1}
    r = await client.put(url, json=bad, headers=headers("admin"))
    assert r.status_code == 422 and world.store.current.version == 0
    fields = {d["field"] for d in r.json()["error"]["details"]}
    assert fields == {"body.false_alarms_per_stream_per_day", "body.false_alarms_per_mode_per_day"}
    r = await client.put(url, json=body, headers=headers("admin"))
    assert r.status_code == 200, r.text
    assert r.json()["false_alarms_per_model_per_day"] == 0.02
    assert world.store.current.detectors.specs["budget"]["false_alarms_per_stream_per_day"] == 0.001
    audit = _last_audit(world)
    assert audit.object == "detectors:budget" and audit.action == "set_budget"
    assert (await client.get(url, headers=headers("viewer"))).json() == r.json()
