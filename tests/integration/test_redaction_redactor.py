"""Redactor: operators, HMAC, fail closed, DLQ scrubbing, no PII survives, processes."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from prometheus_client import CollectorRegistry

from service.metrics import GuardianMetrics
from service.redaction import RedactionPolicy, RedactionSettings, Redactor
from service.redaction import redactor as redactor_module
from service.redaction.scrub import scrub_payload
from tests.strategies import events_with_pii

KEYS = {"k1": "first-key", "k2": "second-key"}
EMAIL = "jane.doe@example.org"


def make(policy: dict[str, Any] | None = None, **kw: Any) -> Redactor:
    settings = RedactionSettings(
        workers=0, hmac_keys=KEYS, active_hmac_key=kw.pop("key", "k1"), **kw
    )
    return Redactor(RedactionPolicy.from_mapping(policy or {}), settings)


async def redact_one(r: Redactor, event: dict[str, Any]) -> Any:
    await r.start()
    try:
        [out] = await r.redact_batch([event])
        return out
    finally:
        await r.close()


@pytest.mark.parametrize(
    "operator, expected",
    [
        ("replace", "mail <EMAIL_ADDRESS> now"),
        ({"type": "mask"}, "mail " + "*" * len(EMAIL) + " now"),
        ({"type": "mask", "keep_last": 3, "mask_char": "#"}, "mail " + "#" * 17 + "org now"),
        ("redact", "mail  now"),
        ("hmac", "mail <EMAIL_ADDRESS:k1:"),
    ],
)
async def test_operators_on_text(operator: Any, expected: str) -> None:
    out = await redact_one(
        make({"operators": {"EMAIL_ADDRESS": operator}}), {"inputs": {"text": f"mail {EMAIL} now"}}
    )
    assert out.event["inputs"]["text"].startswith(expected)
    assert EMAIL not in json.dumps(out.event)
    op = operator if isinstance(operator, str) else operator["type"]
    assert out.event["guardian"]["redactions"] == [
        {"path": "inputs.text", "entity": "EMAIL_ADDRESS", "operator": op, "count": 1}
    ]
    assert out.pii_header == "EMAIL_ADDRESS"


async def test_drop_removes_the_field_and_scan_rule_operators_override() -> None:
    policy = {
        "operators": {"EMAIL_ADDRESS": "drop"},
        "scan": [
            {"path": "inputs.text"},
            {"path": "outputs.text", "operators": {"default": "redact"}},
        ],
    }
    out = await redact_one(
        make(policy), {"inputs": {"text": f"a {EMAIL}"}, "outputs": {"text": f"b {EMAIL}"}}
    )
    assert "text" not in out.event["inputs"]
    assert out.event["outputs"]["text"] == "b "
    ops = {(r.path, r.operator) for r in out.redactions}
    assert ops == {("inputs.text", "drop"), ("outputs.text", "redact")}


async def test_structured_field_rules_apply_without_scanning() -> None:
    policy = {
        "fields": {
            "inputs.features.email": "hmac",
            "inputs.features.user_id": {"operator": "replace", "entity": "USER_ID"},
            "metadata.raw": "drop",
        }
    }
    event = {
        "inputs": {"features": {"email": EMAIL, "user_id": 1234, "age": 40}},
        "metadata": {"raw": {"anything": 1}, "ok": "fine"},
    }
    out = await redact_one(make(policy), event)
    feats = out.event["inputs"]["features"]
    assert feats["email"].startswith("<FIELD:k1:") and feats["user_id"] == "<USER_ID>"
    assert feats["age"] == 40 and "raw" not in out.event["metadata"]
    assert out.event["metadata"]["ok"] == "fine"


async def test_hmac_is_deterministic_and_rotates_by_key_id() -> None:
    policy = {"operators": {"EMAIL_ADDRESS": "hmac"}, "fields": {"inputs.features.email": "hmac"}}
    event = {"inputs": {"text": f"to {EMAIL}", "features": {"email": EMAIL}}}
    first = await redact_one(make(policy), event)
    again = await redact_one(make(policy), event)  # another "replica", same key
    rotated = await redact_one(make(policy, key="k2"), event)
    p1 = first.event["inputs"]["text"].removeprefix("to ")
    assert p1 == again.event["inputs"]["text"].removeprefix("to ")
    assert p1.startswith("<EMAIL_ADDRESS:k1:") and len(p1.split(":")[2]) == 17  # 16 hex + ">"
    # the same value hashes the same in text and in a structured field (joins work)
    assert p1.split(":")[2] == first.event["inputs"]["features"]["email"].split(":")[2]
    p2 = rotated.event["inputs"]["text"].removeprefix("to ")
    assert p2.startswith("<EMAIL_ADDRESS:k2:") and p2.split(":")[2] != p1.split(":")[2]
    other = await redact_one(make(policy), {"inputs": {"text": "to john@example.org"}})
    assert other.event["inputs"]["text"] != first.event["inputs"]["text"]


async def test_metadata_keys_and_nested_lists_are_scanned() -> None:
    event = {"metadata": {EMAIL: {"notes": ["x", "password=hunter2hunter2"]}}}
    out = await redact_one(make(), event)
    dumped = json.dumps(out.event)
    assert EMAIL not in dumped and "hunter2hunter2" not in dumped
    assert {r.path for r in out.redactions} == {
        "metadata.<key>",
        "metadata.<EMAIL_ADDRESS>.notes.1",
    }


async def test_analysis_error_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any) -> Any:
        raise RuntimeError(f"analysis exploded on {EMAIL}")

    monkeypatch.setattr(redactor_module, "analyze_chunk", boom)
    registry = CollectorRegistry()
    r = make()
    r.metrics = GuardianMetrics(registry)
    out = await redact_one(r, {"event_id": "e1", "inputs": {"text": f"hi {EMAIL}"}})
    assert out.failed and out.reason == "analysis failed (RuntimeError)"
    assert EMAIL not in json.dumps(out.event) and EMAIL not in out.reason
    assert out.event["inputs"]["text"] == f"<str:{len(EMAIL) + 3}>"  # the one DLQ scrubber
    assert out.event["event_id"] == "e1"
    assert registry.get_sample_value("guardian_redaction_failures_total") == 1


async def test_timeout_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow(*args: Any) -> Any:
        time.sleep(0.5)
        return [[] for _ in args[-1]]

    monkeypatch.setattr(redactor_module, "analyze_chunk", slow)
    r = make(timeout_s=0.05)
    out = await redact_one(r, {"inputs": {"text": f"hi {EMAIL}"}})
    assert out.failed and out.reason == "analysis failed (timeout)"
    assert EMAIL not in json.dumps(out.event)


async def test_too_deep_event_fails_closed() -> None:
    event: dict[str, Any] = {"metadata": {}}
    node = event["metadata"]
    for _ in range(200):
        node["x"] = {}
        node = node["x"]
    node["y"] = EMAIL
    out = await redact_one(make(), event)
    assert out.failed and EMAIL not in json.dumps(out.event)


@pytest.mark.parametrize(
    "raw, expected",
    [
        (b"\xff\xfe not utf-8 " + EMAIL.encode(), "<redacted:"),
        (f"not json {EMAIL}", "<redacted:"),
        (json.dumps([EMAIL]).encode(), "<redacted:"),
    ],
)
def test_dlq_scrubber_replaces_raw_payloads(raw: bytes | str, expected: str) -> None:
    out = scrub_payload(raw)
    assert isinstance(out, str) and out.startswith(expected) and EMAIL not in out


async def test_failed_outcome_is_the_dlq_scrubbers_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redactor_module, "analyze_chunk", lambda *a: 1 / 0)
    event = {
        "event_id": "7b0c6a9e-5f0e",
        "model": {"name": "credit", "version": "3.2"},
        "tenant": "t-1",
        "inputs": {"text": f"hi {EMAIL}", "features": {"age": 41}},
        "metadata": {EMAIL: "x", "fine": [EMAIL]},
    }
    out = await redact_one(make(), event)
    assert out.failed and out.dlq_reason == "redaction_failed"
    assert out.event == scrub_payload(event)
    assert EMAIL not in json.dumps(out.event)
    assert out.event["event_id"] == "7b0c6a9e-5f0e" and out.event["model"] == event["model"]
    assert out.event["metadata"] == {"<key:0>": "<str:1>", "fine": ["<str:20>"]}


async def test_failed_outcome_is_scrubbed_only_where_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline dead-letters the original itself: no scrubbed copy is built for it."""
    from service.redaction import outcome as outcome_module

    scrubbed: list[Any] = []

    def counting(obj: Any) -> Any:
        scrubbed.append(obj)
        return scrub_payload(obj)

    monkeypatch.setattr(outcome_module, "scrub_payload", counting)
    monkeypatch.setattr(redactor_module, "analyze_chunk", lambda *a: 1 / 0)
    event = {"inputs": {"text": f"hi {EMAIL}"}}
    out = await redact_one(make(), event)
    assert out.failed and out.sanitized is None and not scrubbed
    assert EMAIL not in repr(out)  # the refused event is kept, never shown
    assert out.event == {"inputs": {"text": "<str:23>"}} and len(scrubbed) == 1


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=events_with_pii())
def test_property_injected_pii_never_survives(case: tuple[dict[str, Any], list[str]]) -> None:
    event, values = case

    async def run() -> Any:
        return await redact_one(make(), event)

    out = asyncio.run(run())
    assert not out.failed
    dumped = json.dumps(out.event, ensure_ascii=False)
    for value in values:
        assert value not in dumped
    assert "guardian" in out.event and all(
        set(r) == {"path", "entity", "operator", "count"}
        for r in out.event["guardian"]["redactions"]
    )


async def test_cache_and_live_policy_change() -> None:
    r = make()
    await r.start()
    try:
        events = [{"inputs": {"text": f"hi {EMAIL}"}} for _ in range(3)]
        await r.redact_batch(events)
        assert r._cache.hits == 2  # repeated in the batch: analysed once
        await r.redact_batch(events[:1])
        assert r._cache.hits == 3  # seen before: not analysed again
        r.replace_policy(RedactionPolicy.from_mapping({"operators": {"default": "redact"}}))
        [out] = await r.redact_batch(events[:1])
        assert out.event["inputs"]["text"] == "hi "
        assert out.policy_version == r.policy.version
    finally:
        await r.close()


async def test_metrics_count_redactions_by_entity() -> None:
    registry = CollectorRegistry()
    r = make()
    r.metrics = GuardianMetrics(registry)
    await redact_one(r, {"inputs": {"text": f"{EMAIL} and a@b.io, key AKIAIOSFODNN7EXAMPLE"}})
    assert registry.get_sample_value("guardian_redactions_total", {"entity": "EMAIL_ADDRESS"}) == 2
    assert registry.get_sample_value("guardian_redactions_total", {"entity": "AWS_ACCESS_KEY"}) == 1


async def test_worker_processes_give_the_same_result() -> None:
    """The one test with real processes: same output as in-process, pool survives a kill."""
    event = {"inputs": {"text": f"mail {EMAIL}, card 4111 1111 1111 1111"}}
    local = await redact_one(make(), event)
    # A fresh worker builds its engine inside the next batch's budget: give it room on a
    # loaded machine (the budget itself is tested with a slow engine elsewhere).
    settings = RedactionSettings(workers=1, hmac_keys=KEYS, active_hmac_key="k1", timeout_s=120)
    r = Redactor(RedactionPolicy(), settings)
    await r.start()
    try:
        [remote] = await r.redact_batch([event])
        assert remote.event == local.event
        r._kill_pool()  # what a timeout does: the next batch gets fresh workers
        r._cache.clear()
        [again] = await r.redact_batch([event])
        assert again.event == local.event
    finally:
        await r.close()
