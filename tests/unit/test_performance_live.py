"""Per-model performance thresholds changed live: PUT through the versioned config document,
audited, installed in the running monitor with its windows kept; bad values are 422s that
name the field and change nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from detectors.performance.config import PerformanceConfig
from detectors.performance.monitor import PerformanceMonitor
from service.api import routes_performance
from service.api.errors import install_error_handlers
from service.control.audit import AuditIndex, AuditRecord
from service.control.document import ConfigDocument, DetectorConfig, utc_now
from service.control.live import LiveParts, install, prepare
from service.control.policies import ConfigInvalid
from service.metrics import GuardianMetrics

MODEL = "credit-risk"
URL = f"/v1/models/{MODEL}/performance/thresholds"


class _Admin:
    def authenticate(self, request: Any, credentials: Any) -> Any:
        return SimpleNamespace(name="alice", role="admin")

    def authorize(self, principal: Any, role: str) -> None:
        return None


class ApplyingStore:
    """The config store's contract in memory: each commit is prepared and installed."""

    def __init__(self, parts: LiveParts) -> None:
        self.parts = parts
        self.current = ConfigDocument(
            version=0,
            redaction={},
            retention={},
            detectors=DetectorConfig(specs={}),
            updated_by="<files>",
            updated_at=utc_now(),
        )
        self.history = {0: self.current}
        self.audit = AuditIndex(100)

    async def commit(
        self, actor: str, change: Callable[[ConfigDocument], dict[str, Any]], comment: str = ""
    ) -> tuple[ConfigDocument, ConfigDocument]:
        before = self.current
        after = before.successor(before.version, actor, "test", comment=comment, **change(before))
        await install(self.parts, prepare(cast(Any, self.parts.policies), after, before))
        self.current = self.history[after.version] = after
        return before, after

    async def write_audit(self, record: AuditRecord) -> None:
        self.audit.add(record)


def _monitor() -> PerformanceMonitor:
    entry = {"model": "credit-*", "window": 1000, "calibration": {"method": "none"}}
    cfg = PerformanceConfig.from_mapping(
        {"models": [{**entry, "breach_after": 2}, {"model": "*", "window": 500}]}
    )
    return PerformanceMonitor(cfg)


@pytest.fixture
async def world() -> AsyncIterator[tuple[httpx.AsyncClient, PerformanceMonitor, ApplyingStore]]:
    monitor = _monitor()
    parts = LiveParts(
        policies=cast(Any, SimpleNamespace()),
        detectors=cast(Any, SimpleNamespace()),
        fairness=cast(Any, SimpleNamespace(config=None)),
        performance=monitor,
    )
    store = ApplyingStore(parts)
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(routes_performance.router)
    app.state.auth = _Admin()
    app.state.ports = SimpleNamespace(performance=monitor, store=store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://guardian") as client:
        yield client, monitor, store


def _unsure(monitor: PerformanceMonitor, n: int, prefix: str) -> list[Any]:
    results: list[Any] = []
    for i in range(n):  # estimated accuracy 0.55
        s = 0.55 if i % 2 else 0.45
        outputs = {"score": s, "prediction": int(s > 0.5)}
        results += monitor.observe(MODEL, "1", outputs, f"{prefix}{i}")
    return results


async def test_a_threshold_set_through_the_api_applies_live_and_is_audited(
    world: tuple[httpx.AsyncClient, PerformanceMonitor, ApplyingStore],
) -> None:
    client, monitor, store = world
    assert _unsure(monitor, 1500, "a") == []  # no thresholds: no alert
    got = await client.get(URL)
    assert got.status_code == 200, got.text
    assert got.json()["thresholds"] == {} and got.json()["entry"] == "credit-*"

    put = await client.put(URL, json={"thresholds": {"accuracy": 0.7}, "clear_after": 4})
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["entry"] == MODEL and body["thresholds"] == {"accuracy": 0.7}
    assert body["breach_after"] == 2 and body["clear_after"] == 4  # the rest copied
    # in force in the running monitor; the window (and its calibrator) kept
    entry = monitor.config.for_model(MODEL)
    assert entry is not None and entry.model == MODEL and entry.window == 1000
    assert monitor.config.for_model("credit-other") is not None
    assert monitor.config.for_model("credit-other").thresholds == {}  # type: ignore[union-attr]
    view = monitor.snapshot(MODEL)
    assert view is not None and view["window"]["events"] == 1000
    assert view["thresholds"] == {"accuracy": 0.7}
    results = _unsure(monitor, 1000, "b")
    assert [(r.metric, r.state, r.segment) for r in results] == [("accuracy", "breach", "all")]
    # versioned and audited with before and after
    assert store.current.version == 1 and store.current.performance is not None
    total, (record,) = store.audit.query(_everything())
    assert total == 1 and record.actor == "alice"
    assert record.object == f"model:{MODEL}" and record.action == "set_performance_thresholds"
    assert record.before["thresholds"] == {} and record.after["thresholds"] == {"accuracy": 0.7}
    # a second PUT replaces the model's own entry, never stacks another
    again = await client.put(URL, json={"thresholds": {}})
    assert again.status_code == 200 and again.json()["thresholds"] == {}
    models = store.current.performance["models"]  # type: ignore[index]
    assert [m["model"] for m in models] == [MODEL, "credit-*", "*"]
    assert monitor.config.for_model(MODEL).thresholds == {}  # type: ignore[union-attr]
    # the breach held under the removed threshold is released: no alert stays firing
    assert [(r.metric, r.state, r.segment) for r in monitor.tick()] == [
        ("accuracy", "clear", "all")
    ]
    assert monitor.tick() == []


def test_a_removed_threshold_takes_its_decision_series_with_it() -> None:
    registry = CollectorRegistry()
    entry = {"model": "credit-*", "window": 1000, "calibration": {"method": "none"}}
    cfg = PerformanceConfig.from_mapping(
        {"models": [{**entry, "thresholds": {"accuracy": 0.7, "f1": 0.1}, "breach_after": 2}]}
    )
    monitor = PerformanceMonitor(cfg, GuardianMetrics(registry))
    assert [r.state for r in _unsure(monitor, 1500, "a")] == ["breach"]

    def breached(metric: str) -> float | None:
        labels = {"model": MODEL, "version": "1", "segment": "all", "metric": metric}
        return registry.get_sample_value("guardian_performance_breached", labels)

    assert breached("accuracy") == 1.0 and breached("f1") == 0.0
    monitor.replace_config(
        PerformanceConfig.from_mapping({"models": [{**entry, "thresholds": {"f1": 0.1}}]})
    )
    assert breached("accuracy") is None and breached("f1") == 0.0
    assert [(r.metric, r.state) for r in monitor.tick()] == [("accuracy", "clear")]


def _everything() -> Any:
    from service.control.audit import AuditQuery

    return AuditQuery(limit=10)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"thresholds": {"accuracy": 1.5}}, "thresholds.accuracy"),
        ({"thresholds": {"mae": 0.5}}, "thresholds.mae"),
        ({"thresholds": {"accuracy": "high"}}, "thresholds.accuracy"),
        ({"breach_after": 0}, "breach_after"),
        ({"clear_margin": 0.9}, "clear_margin"),
        ({"window": 10}, "window"),
    ],
)
async def test_a_bad_value_is_a_422_naming_the_field_and_changes_nothing(
    world: tuple[httpx.AsyncClient, PerformanceMonitor, ApplyingStore],
    body: dict[str, Any],
    field: str,
) -> None:
    client, monitor, store = world
    before = monitor.config
    got = await client.put(URL, json=body)
    assert got.status_code == 422, got.text
    fields = [d["field"] for d in got.json()["error"]["details"]]
    assert any(f is not None and field in f for f in fields), fields
    assert monitor.config is before and store.current.version == 0


def test_a_document_with_a_bad_performance_section_is_refused_naming_the_field() -> None:
    applied = ConfigDocument(
        version=0,
        redaction={},
        retention={},
        detectors=DetectorConfig(specs={}),
        updated_by="<files>",
        updated_at=utc_now(),
    )
    bad = applied.successor(
        0, "alice", "o", performance={"models": [{"model": "*", "thresholds": {"f1": 2}}]}
    )
    with pytest.raises(ConfigInvalid) as err:
        prepare(cast(Any, SimpleNamespace()), bad, applied)
    assert err.value.problems[0].startswith("performance.models.0.thresholds.f1:")


async def test_a_rollback_restores_the_previous_thresholds(
    world: tuple[httpx.AsyncClient, PerformanceMonitor, ApplyingStore],
) -> None:
    client, monitor, store = world
    assert (await client.put(URL, json={"thresholds": {"roc_auc": 0.8}})).status_code == 200
    assert (await client.put(URL, json={"thresholds": {"roc_auc": 0.6}})).status_code == 200
    target = store.history[1]

    def back(doc: ConfigDocument) -> dict[str, Any]:  # what POST /v1/config/rollback commits
        return {"performance": target.performance}

    await store.commit("alice", back)
    assert monitor.config.for_model(MODEL).thresholds == {"roc_auc": 0.8}  # type: ignore[union-attr]
