"""The redactor's fast path for structured events changes nothing but speed."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from service.redaction import RedactionPolicy, RedactionSettings, Redactor


def _nested(levels: int) -> Any:
    node: Any = 1
    for _ in range(levels):
        node = {"k": node}
    return node


@pytest.fixture
async def redactor() -> Any:
    r = Redactor(RedactionPolicy.from_yaml("config/redaction.yaml"), RedactionSettings(workers=0))
    await r.start()
    yield r
    await r.close()


async def test_clean_structured_event_comes_back_equal_plus_guardian_block(redactor: Any) -> None:
    event = {
        "model": {"name": "credit-risk", "version": "3.2.0"},
        "inputs": {"features": {"age": 41, "country": "DE"}},
        "outputs": {"prediction": 1, "score": 0.8},
        "subject": {"protected": {"gender": "f"}},
        "metadata": {"channel": "web"},
    }
    original = copy.deepcopy(event)
    [outcome] = await redactor.redact_batch([event])
    assert not outcome.failed and outcome.entities == frozenset()
    assert {k: v for k, v in outcome.event.items() if k != "guardian"} == original
    assert outcome.event["guardian"] == {"redactions": []}
    assert event == original  # the input is not modified


@pytest.mark.parametrize("levels, fails", [(63, False), (64, True), (70, True)])
async def test_depth_bound_still_applies_to_skipped_subtrees(
    redactor: Any, levels: int, fails: bool
) -> None:
    # `subject` holds no scanned path, so the walk skips it; the bound must still hold.
    [outcome] = await redactor.redact_batch([{"subject": _nested(levels)}])
    assert outcome.failed is fails


async def test_field_rule_and_findings_still_applied() -> None:
    policy = RedactionPolicy.from_mapping(
        {"fields": {"inputs.features.account": "replace"}, "scan": [{"path": "metadata.**"}]}
    )
    r = Redactor(policy, RedactionSettings(workers=0))
    await r.start()
    try:
        [outcome] = await r.redact_batch(
            [{"inputs": {"features": {"account": "A-1"}}, "metadata": {"m": "mail a@example.com"}}]
        )
    finally:
        await r.close()
    assert outcome.event["inputs"]["features"]["account"] != "A-1"
    assert "a@example.com" not in outcome.event["metadata"]["m"]
    assert {x.path for x in outcome.redactions} == {"inputs.features.account", "metadata.m"}


# --------------------------------------------------------------------------- differential
# The shape-plan check (clean_without_walk) must give exactly what the walk gives: run the
# same events through a redactor whose fast path is switched off, and compare everything.

_POLICIES: dict[str, dict[str, Any] | None] = {
    "default": None,
    "field rules + extra scan": {
        "fields": {"inputs.features.country": "hmac", "metadata.user": "drop"},
        "scan": [{"path": "inputs.features.*"}, {"path": "metadata.**"}, {"path": "tenant"}],
    },
    "scan everything, drop": {"scan": [{"path": "**"}], "operators": {"default": "drop"}},
}


def _edge_events() -> list[Any]:
    base = {
        "schema_version": 1,
        "event_id": "e-1",
        "model": {"name": "m", "version": "1"},
        "inputs": {"features": {"age": 3, "country": "DE", "none": None, "flag": True}},
        "outputs": {"prediction": "yes", "score": 0.5},
        "metadata": {"channel": "web"},
    }
    events: list[Any] = [copy.deepcopy(base) for _ in range(12)]
    events[1]["guardian"] = {"retention": {"class": "spoofed"}}
    events[2]["metadata"] = {"tags": ["a", "mail bob@example.com"], "n": {"deep": "web"}}
    events[3]["inputs"]["features"]["bob@example.com"] = 1  # PII in a scanned key
    events[4]["inputs"]["features"]["country"] = "call +1 212 555 0100"
    events[5]["subject"] = {"protected": {"gender": "f"}, "x": _nested(62)}
    events[6]["subject"] = _nested(63)
    events[7]["inputs"]["features"]["obj"] = {"a": "b"}
    events[8]["metadata"] = {"user": "u-1", "channel": "web"}
    events[9]["tenant"] = "acme"
    events[10]["outputs"]["text"] = "no pii here"
    events[11] = {"metadata": "not a dict", "inputs": []}
    secrets = copy.deepcopy(base)  # credentials in the forms the secret recognizers cover
    secrets["inputs"]["text"] = 'export DB_PASSWORD=hunter2222 and {"api_key": "k-123-xyz"}'
    secrets["outputs"]["text"] = "max_tokens=512; curl -H 'Authorization: Bearer abc.def-123'"
    secrets["metadata"] = {
        "headers": "X-Api-Key: 9f8e7d6c5b4a\nCookie: sid=abc123",
        "dsn": "postgres://app:pa55word@db/x",
        "key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkq\\n",
    }
    secrets["inputs"]["features"]["country"] = "hf_" + "a1" * 17
    wider = [copy.deepcopy(base) for _ in range(8)]  # what the wider default scan reaches
    wider[0]["inputs"]["features"]["card"] = 4111111111111111  # Luhn: a card
    wider[1]["metadata"] = {"n": [219099999, 12], "big": 10**17}  # SSN-shaped; 18 digits: none
    wider[2]["outputs"]["prediction"] = "mail bob@example.com"
    wider[3]["subject"] = {"protected": {"gender": "bob@example.com"}}
    wider[4]["extra"] = {"bob@example.com": {"x": 2125550100}}
    wider[5]["tenant"] = "212-555-0100"  # refused: pii_in_identifier
    wider[6]["inputs"]["features"]["float"] = 4111111111111111.0
    wider[7]["inputs"]["features"]["<EMAIL_ADDRESS>"] = 1
    wider[7]["inputs"]["features"]["bob@example.com"] = 2
    return [
        *events,
        secrets,
        *wider,
        {"model": {"name": "m"}, "extra": [1, [2, {"k": "v"}]]},
    ]


def _corpus() -> list[Any]:
    import orjson

    from load_tests.workload import demo_records

    demo = [orjson.loads(value) for _key, value in demo_records(300, mix=True)]
    return [*demo, *_edge_events()]


def _summary(outcome: Any) -> tuple[Any, ...]:
    import orjson

    return (
        orjson.dumps(outcome.event),
        [r.as_dict() for r in outcome.redactions],
        sorted(outcome.entities),
        outcome.failed,
        outcome.reason,
        outcome.policy_version,
    )


async def _run_twice(policy: dict[str, Any] | None, events: list[Any]) -> list[Any]:
    """Second pass: texts seen in the first are in the cache, so the fast path can apply."""
    r = Redactor(
        RedactionPolicy.from_mapping(policy)
        if policy is not None
        else RedactionPolicy.from_yaml("config/redaction.yaml"),
        RedactionSettings(workers=0, hmac_keys={"k1": "x" * 32}, active_hmac_key="k1"),
    )
    await r.start()
    try:
        await r.redact_batch(copy.deepcopy(events))
        return await r.redact_batch(copy.deepcopy(events))
    finally:
        await r.close()


@pytest.mark.parametrize("name", list(_POLICIES))
async def test_fast_path_outcomes_equal_the_walk(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.redaction import redactor as module

    events = _corpus()
    taken: list[int] = []
    check = module.clean_without_walk

    def counting(*args: Any) -> int:
        result = check(*args)
        if args[1] == () and result >= 0:
            taken.append(result)
        return result

    monkeypatch.setattr(module, "clean_without_walk", counting)
    fast = await _run_twice(_POLICIES[name], events)
    monkeypatch.setattr(module, "clean_without_walk", lambda *args: -1)
    slow = await _run_twice(_POLICIES[name], events)
    assert [_summary(o) for o in fast] == [_summary(o) for o in slow]
    assert taken, "the fast path was never taken: the comparison proves nothing"
    if name == "default":
        assert len(taken) >= 150  # the structured demo events (no text) all take it


async def test_fast_path_keeps_input_unmodified_and_counts_cache_hits(redactor: Any) -> None:
    events = [e for e in _edge_events() if isinstance(e, dict)][:3]
    original = copy.deepcopy(events)
    await redactor.redact_batch(events)
    hits = redactor._cache.hits
    outcomes = await redactor.redact_batch(events)
    assert events == original
    # As the walk does: an input block (refused earlier by the schema) keeps its keys and
    # gets Guardian's redactions, and it is last in the event.
    assert outcomes[1].event["guardian"] == {"retention": {"class": "spoofed"}, "redactions": []}
    assert list(outcomes[1].event)[-1] == "guardian"
    # Events 0 and 1 take the fast path: 4 feature keys, "DE", the metadata key and "web"
    # each; event 2 (a list under metadata) is walked and counts its own hits.
    assert redactor._cache.hits - hits >= 14


@pytest.mark.parametrize("max_depth", [8, 32, 59, 61, 62, 63])
async def test_depth_bound_of_validated_events_gives_the_same_outcomes(max_depth: int) -> None:
    # RedactStage passes limits.max_depth: events that passed validation nest no deeper, so
    # the fast path may skip depth checks of subtrees it does not walk. Metadata nested right
    # up to the bound (and one level past it, rejected by validation) under a policy that does
    # not scan metadata: the outcomes must be those without the hint.
    import orjson

    from load_tests.workload import demo_records
    from service.errors import InvalidEvent
    from service.pipeline.decode import decode_event
    from service.settings import LimitSettings

    limits = LimitSettings(max_depth=max_depth)
    events = []
    for i, (_key, raw) in enumerate(demo_records(40)):
        event = orjson.loads(raw)
        event["metadata"] = _nested(max_depth - 3 + i % 4)
        try:
            events.append(decode_event(orjson.dumps(event), limits))
        except InvalidEvent as exc:
            assert exc.dlq_reason == "too_deep"
    assert len(events) >= 20  # most are at or within the bound
    policy = {"scan": [{"path": "inputs.text"}, {"path": "outputs.text"}]}
    outcomes = []
    for hint in (None, max_depth):
        r = Redactor(RedactionPolicy.from_mapping(policy), RedactionSettings(workers=0))
        await r.start()
        try:
            await r.redact_batch(copy.deepcopy(events), depth_at_most=hint)
            second = await r.redact_batch(copy.deepcopy(events), depth_at_most=hint)
        finally:
            await r.close()
        outcomes.append([_summary(o) for o in second])
    assert outcomes[0] == outcomes[1]
