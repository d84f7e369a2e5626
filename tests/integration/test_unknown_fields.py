"""schema.unknown_fields: a publisher that adds a field keeps its events monitored, scanned."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from service.errors import InvalidEvent
from service.metrics import GuardianMetrics
from service.pipeline.context import EventContext
from service.pipeline.decode import decode_event
from service.pipeline.stages import ValidateStage
from service.pipeline.unknown_fields import field_label, policy_scans_extra
from service.redaction.policy import RedactionPolicy
from service.settings import GuardianSettings, LimitSettings

LIMITS = LimitSettings()
EVENT: dict[str, Any] = {
    "schema_version": 1,
    "event_id": "e-1",
    "timestamp": "2026-11-30T12:00:00Z",
    "model": {"name": "credit-risk", "version": "3.2.0"},
    "inputs": {"features": {"age": 41}},
    "metadata": {"channel": "web"},
}


def with_fields(**fields: Any) -> bytes:
    return orjson.dumps({**copy.deepcopy(EVENT), **fields})


def outcome(raw: bytes, mode: str, limits: LimitSettings = LIMITS) -> tuple[str, Any]:
    try:
        return "ok", decode_event(raw, limits, mode)  # type: ignore[arg-type]
    except InvalidEvent as exc:
        return exc.dlq_reason or "", None


def test_default_is_scan() -> None:
    assert GuardianSettings.load(None).event_schema.unknown_fields == "scan"
    chosen = GuardianSettings.load(None, schema={"unknown_fields": "drop"})
    assert chosen.event_schema.unknown_fields == "drop"


def test_scan_keeps_unknown_fields_under_extra() -> None:
    raw = with_fields(request_id="r-9", trace={"span": "a", "note": "mail bob@example.com"})
    reason, event = outcome(raw, "scan")
    assert reason == "ok"
    assert event["extra"] == {
        "request_id": "r-9",
        "trace": {"span": "a", "note": "mail bob@example.com"},
    }
    assert "request_id" not in event


def test_drop_removes_them_and_reject_is_the_old_dlq() -> None:
    raw = with_fields(request_id="r-9")
    reason, event = outcome(raw, "drop")
    assert reason == "ok" and event == EVENT
    assert outcome(raw, "reject") == ("invalid_schema", None)


@pytest.mark.parametrize("mode", ["scan", "drop", "reject"])
def test_an_input_guardian_block_is_refused_in_every_mode(mode: str) -> None:
    raw = with_fields(guardian={"retention": {"class": "forever"}})
    assert outcome(raw, mode) == ("invalid_schema", None)


@pytest.mark.parametrize("mode", ["scan", "drop", "reject"])
def test_unknown_schema_version_still_goes_to_the_dlq(mode: str) -> None:
    raw = with_fields(schema_version=2, request_id="r-1")
    assert outcome(raw, mode) == ("unknown_schema_version", None)


@pytest.mark.parametrize(
    ("fields", "scan", "drop"),
    [
        # valid apart from the new field: the fast schema path
        ({"request_id": "r"}, "ok", "ok"),
        # invalid elsewhere too: the full model path gives the same reason in every mode
        ({"request_id": "r", "latency_ms": "slow"}, "invalid_schema", "invalid_schema"),
        ({"request_id": "r", "timestamp": 5}, "invalid_schema", "invalid_schema"),
        # kept fields count for the depth bound as if under `extra`; dropped ones do not
        ({"deep": [[[[["x"]]]]]}, "too_deep", "ok"),
        ({"shallow": [["x"]]}, "ok", "ok"),
    ],
)
def test_fast_and_full_schema_paths_agree(fields: dict[str, Any], scan: str, drop: str) -> None:
    limits = LimitSettings(max_depth=5)
    raw = with_fields(**fields)
    assert outcome(raw, "scan", limits)[0] == scan
    assert outcome(raw, "drop", limits)[0] == drop


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("request_id", "request_id"),
        ("trace_2", "trace_2"),
        ("alice@example.com", "__other__"),
        ("RequestId", "__other__"),
        ("x" * 41, "x" * 41),
        ("x" * 42, "__other__"),
        ("4111111111111111", "__other__"),
    ],
)
def test_field_labels_are_identifier_shaped_or_other(name: str, label: str) -> None:
    assert field_label(name) == label


async def test_validate_stage_counts_unknown_fields_with_bounded_labels() -> None:
    metrics = GuardianMetrics(CollectorRegistry(), top_k=2)
    stage = ValidateStage(LIMITS, "scan", metrics)
    raws = [
        with_fields(request_id="a"),
        with_fields(request_id="b", **{"alice@example.com": 1}),
        with_fields(trace_id="t", span="s"),  # the third distinct name is past top_k
        with_fields(request_id="c", schema_version=3),  # counted, then rejected
    ]
    batch = [EventContext("t", 0, i, raw) for i, raw in enumerate(raws)]
    await stage.process(batch)
    assert [ctx.error for ctx in batch] == [None, None, None, "unknown_schema_version"]
    value = metrics.registry.get_sample_value
    assert value("guardian_unknown_fields_total", {"field": "request_id"}) == 3
    assert value("guardian_unknown_fields_total", {"field": "trace_id"}) == 1
    assert value("guardian_unknown_fields_total", {"field": "__other__"}) == 2
    assert value("guardian_unknown_fields_total", {"field": "alice@example.com"}) is None


def test_shipped_and_default_policies_scan_extra() -> None:
    shipped = RedactionPolicy.from_yaml(GuardianSettings.load(None).redaction.policy_file)
    assert policy_scans_extra([r.path for r in shipped.scan])
    assert policy_scans_extra([r.path for r in RedactionPolicy().scan])
    assert not policy_scans_extra(["metadata.**", "extra.request_id"])


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["scan", "drop", "reject"])
async def test_a_publisher_adding_fields_stays_monitored_and_scanned(  # type: ignore[no-untyped-def]
    kafka_bootstrap: str, guardian_factory, mode: str
) -> None:
    from tests.kafka_helpers import drain, make_settings, produce, sanitized_topics

    settings = make_settings(kafka_bootstrap, schema={"unknown_fields": mode})
    guardian = await guardian_factory(settings)
    event = {
        **copy.deepcopy(EVENT),
        "request_id": "req-42",
        "caller": {"contact": "write to bob.smith@example.com", "ids": ["ip 10.1.2.3"]},
    }
    await produce(kafka_bootstrap, settings.kafka.topics.events, [orjson.dumps(event)])
    value = guardian.metrics.registry.get_sample_value
    if mode == "reject":
        [dead] = await drain(kafka_bootstrap, settings.kafka.topics.dlq, expect=1)
        assert orjson.loads(dead.value)["reason"] == "invalid_schema"
        assert b"bob.smith" not in dead.value
    else:
        [out] = await drain(kafka_bootstrap, sanitized_topics(settings), expect=1)
        sanitized = orjson.loads(out.value)
        assert b"bob.smith@example.com" not in out.value and b"10.1.2.3" not in out.value
        assert "request_id" not in sanitized and "caller" not in sanitized
        if mode == "scan":
            assert sanitized["extra"]["request_id"] == "req-42"
            assert "example.com" not in sanitized["extra"]["caller"]["contact"]
            paths = {r["path"] for r in sanitized["guardian"]["redactions"]}
            assert {"extra.caller.contact", "extra.caller.ids.0"} <= paths
        else:
            assert "extra" not in sanitized
    assert value("guardian_unknown_fields_total", {"field": "request_id"}) == 1
    assert value("guardian_unknown_fields_total", {"field": "caller"}) == 1
