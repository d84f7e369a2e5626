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
