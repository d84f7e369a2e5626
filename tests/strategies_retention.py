"""Hypothesis strategies for retention tests: events, entity sets and small random policies.

Values come from small alphabets on purpose, so random rules and random events
actually overlap and the interesting cases (shadowing, partial matches) occur.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

MODEL_NAMES = ["credit-risk", "credit-x", "fraud-a", "fraud-b", "c", "chat-llm"]
VERSIONS = ["1.0", "1.5", "2.0", "3"]
TENANTS = ["acme", "abc", "zeta"]
ENTITY_TYPES = [
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "PRIVATE_KEY",
    "US_SSN",
]
REGIONS = ["eu-west-1", "eu-central-1", "us-east-1"]
CLASSIFICATIONS = ["restricted", "public", "rare"]
HOLD_VALUES: list[Any] = [True, False, "true", "TRUE", "no", 1]

MODEL_GLOBS = ["credit-*", "credit-risk", "*", "fraud-?", "fraud-a", "c*", "c"]
VERSION_GLOBS = ["1.*", "1.0", "2.*", "*", "[12].*"]
TENANT_GLOBS = ["acme", "a*", "*", "zeta"]
ENTITY_GLOBS = ["EMAIL_ADDRESS", "PHONE_NUMBER", "AWS_ACCESS_KEY", "AWS_*", "*", "*_KEY"]
METADATA_CONDITIONS: dict[str, list[Any]] = {
    "region": ["eu-*", "eu-west-1", "us-east-1", "*"],
    "data_classification": ["restricted", "public", "r*"],
    "legal_hold": [True, False, "true"],
}
CLASS_NAMES = ["ephemeral", "short", "standard", "extended", "legal_hold"]


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """ISO-8601 timestamps with ``Z``, an offset, or none, to the microsecond."""
    instant = draw(
        st.datetimes(
            min_value=datetime(2000, 1, 1),  # naive bounds: hypothesis wants them
            max_value=datetime(2100, 1, 1),
        )
    )
    style = draw(st.sampled_from(["Z", "offset", "naive"]))
    if style == "naive":
        return instant.isoformat()
    if style == "Z":
        return instant.isoformat() + "Z"
    minutes = draw(st.integers(min_value=-12 * 60, max_value=14 * 60))
    return instant.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat()


def metadata() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "region": st.sampled_from(REGIONS),
            "data_classification": st.sampled_from(CLASSIFICATIONS),
            "legal_hold": st.sampled_from(HOLD_VALUES),
        },
    )


@st.composite
def events(draw: st.DrawFn) -> dict[str, Any]:
    """Inference events as the retain stage sees them (already validated, maybe redacted)."""
    event: dict[str, Any] = {
        "schema_version": 1,
        "event_id": str(draw(st.uuids())),
        "timestamp": draw(timestamps()),
        "model": {
            "name": draw(st.sampled_from(MODEL_NAMES)),
            "version": draw(st.sampled_from(VERSIONS)),
        },
        "inputs": {"features": {"age": draw(st.integers(0, 120))}},
        "metadata": draw(metadata()),
    }
    tenant = draw(st.none() | st.sampled_from(TENANTS))
    if tenant is not None:
        event["tenant"] = tenant
    if draw(st.booleans()):
        event["guardian"] = {
            "redactions": [
                {"path": "inputs.text", "entity": "EMAIL_ADDRESS", "operator": "replace"}
            ]
        }
    return event


def entity_sets() -> st.SearchStrategy[frozenset[str]]:
    return st.frozensets(st.sampled_from(ENTITY_TYPES), max_size=4)


def _globs(choices: list[str]) -> st.SearchStrategy[str | list[str]]:
    return st.sampled_from(choices) | st.lists(st.sampled_from(choices), min_size=1, max_size=2)


@st.composite
def rule_matches(draw: st.DrawFn) -> dict[str, Any]:
    """The ``match`` block of a rule: any subset of the condition kinds."""
    match: dict[str, Any] = {}
    if draw(st.booleans()):
        match["model"] = draw(_globs(MODEL_GLOBS))
    if draw(st.integers(0, 3)) == 0:
        match["model_version"] = draw(_globs(VERSION_GLOBS))
    if draw(st.integers(0, 3)) == 0:
        match["tenant"] = draw(_globs(TENANT_GLOBS))
    if draw(st.booleans()):
        entities: dict[str, list[str]] = {}
        any_of = draw(st.lists(st.sampled_from(ENTITY_GLOBS), max_size=2))
        all_of = draw(st.lists(st.sampled_from(ENTITY_GLOBS), max_size=2))
        if any_of:
            entities["any_of"] = any_of
        if all_of or not any_of:
            entities["all_of"] = all_of or ["*"]
        match["entities"] = entities
    if draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(sorted(METADATA_CONDITIONS)), min_size=1, unique=True))
        match["metadata"] = {
            key: draw(
                st.sampled_from(METADATA_CONDITIONS[key])
                | st.lists(st.sampled_from(METADATA_CONDITIONS[key]), min_size=1, max_size=2)
            )
            for key in keys
        }
    return match


@st.composite
def policies(draw: st.DrawFn) -> dict[str, Any]:
    """Valid policy mappings with up to six random rules over the standard classes."""
    matches = draw(st.lists(rule_matches(), max_size=6))
    return {
        "default_class": "standard",
        "classes": {
            "ephemeral": {"duration": "1d"},
            "short": {"duration": "7d"},
            "standard": {"duration": "30d"},
            "extended": {"duration": "365d"},
            "legal_hold": {"duration": None},
        },
        "rules": [
            {"name": f"rule-{i}", "match": match, "class": draw(st.sampled_from(CLASS_NAMES))}
            for i, match in enumerate(matches)
        ],
    }


__all__ = ["entity_sets", "events", "policies", "rule_matches", "timestamps"]
