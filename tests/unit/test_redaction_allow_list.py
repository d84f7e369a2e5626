"""Allow-lists, exact and regex, behave as in plain Presidio (issue 15.3).

``allow_list_match: regex`` used to raise inside ``find`` (flags passed as
``None``), so every event with a finding went to the DLQ.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from service.redaction import RedactionPolicy, RedactionSettings, Redactor
from service.redaction.engine import ALLOW_LIST_REGEX_FLAGS, GuardianAnalyzer, build_engine

OURS = "ops@example.org"
THEIRS = "jane.doe@other.net"
REGEX_POLICY: dict[str, Any] = {
    "allow_list": [r"@example\.org$", r"^support@"],
    "allow_list_match": "regex",
}


async def redact_text(policy: dict[str, Any], text: str) -> tuple[str | None, list[str]]:
    """Redact one event through the Redactor; (sanitized text, DLQ reason or [])."""
    redactor = Redactor(RedactionPolicy.from_mapping(policy), RedactionSettings(workers=0))
    await redactor.start()
    try:
        [out] = await redactor.redact_batch([{"inputs": {"text": text}}])
    finally:
        await redactor.close()
    if out.failed:
        return None, [out.reason or "failed"]
    return out.event["inputs"]["text"], []


@pytest.mark.parametrize(
    "text, expected",
    [
        (f"write to {OURS} today", f"write to {OURS} today"),  # allowed: kept
        (f"write to {THEIRS} today", "write to <EMAIL_ADDRESS> today"),  # not allowed
        ("write to SUPPORT@shop.io", "write to SUPPORT@shop.io"),  # IGNORECASE, as Presidio
        (
            f"{OURS} and {THEIRS}",
            f"{OURS} and <EMAIL_ADDRESS>",
        ),  # each finding is judged alone
    ],
)
async def test_regex_allow_list_through_the_redactor(text: str, expected: str) -> None:
    sanitized, dlq = await redact_text(REGEX_POLICY, text)
    assert dlq == []
    assert sanitized == expected


async def test_exact_allow_list_still_matches_whole_values_only() -> None:
    policy = {"allow_list": [OURS], "allow_list_match": "exact"}
    assert await redact_text(policy, f"to {OURS}") == (f"to {OURS}", [])
    assert await redact_text(policy, f"to x{OURS}") == ("to <EMAIL_ADDRESS>", [])


@pytest.fixture(scope="module")
def regex_engine() -> GuardianAnalyzer:
    return build_engine(RedactionPolicy.from_mapping(REGEX_POLICY), None)


@pytest.mark.parametrize(
    "text",
    [
        f"write to {OURS} today",
        f"write to {THEIRS} today",
        "SUPPORT@shop.io or support@shop.io, call (212) 555-0199",
        f"{OURS}\n{THEIRS}\nsupport@x.example.org",
        "nothing personal here",
    ],
)
def test_find_equals_presidio_with_a_regex_allow_list(
    regex_engine: GuardianAnalyzer, text: str
) -> None:
    entities = tuple(sorted(regex_engine.policy.all_entities))
    assert regex_engine.find(text, entities) == regex_engine.presidio_analyze(text, entities)


def test_allow_list_flags_are_presidios_defaults() -> None:
    from presidio_analyzer import AnalyzerEngine

    default = inspect.signature(AnalyzerEngine.analyze).parameters["regex_flags"].default
    assert default == ALLOW_LIST_REGEX_FLAGS
