"""Retention policy: rule tables, the shipped default, versions (validation: ``_validation``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.retention import (
    RetentionPolicy,
    RetentionSettings,
    load_policy,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POLICY = ROOT / "config" / "retention.yaml"

CLASSES = {
    "ephemeral": {"duration": "1d"},
    "short": {"duration": "7d"},
    "standard": {"duration": "30d"},
    "extended": {"duration": "365d"},
    "legal_hold": {"duration": None},
}


def make_policy(*rules: dict[str, Any], default: str = "standard") -> RetentionPolicy:
    return RetentionPolicy.from_mapping(
        {"default_class": default, "classes": CLASSES, "rules": list(rules)}
    )


def event(
    model: str = "credit-risk",
    version: str = "3.2.0",
    tenant: str | None = "acme",
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schema_version": 1,
        "event_id": "e-1",
        "timestamp": "2026-11-30T12:00:00.123Z",
        "model": {"name": model, "version": version},
        "metadata": metadata or {},
    }
    if tenant is not None:
        body["tenant"] = tenant
    return body


# A policy exercising every condition kind; rule order matters.
TABLE_POLICY = make_policy(
    {"name": "hold", "match": {"metadata": {"legal_hold": True}}, "class": "legal_hold"},
    {"name": "aws", "match": {"entities": {"any_of": ["AWS_*"]}}, "class": "ephemeral"},
    {
        "name": "card-and-ssn",
        "match": {"entities": {"all_of": ["CREDIT_CARD", "US_SSN"]}},
        "class": "ephemeral",
    },
    {
        "name": "eu-restricted",
        "match": {"metadata": {"region": "eu-*", "data_classification": "restricted"}},
        "class": "short",
    },
    {
        "name": "audit-v3",
        "match": {"model": "credit-*", "model_version": "3.*"},
        "class": "extended",
    },
    {"name": "tenant-beta", "match": {"tenant": ["beta-?", "gamma"]}, "class": "short"},
    {"name": "nested", "match": {"metadata": {"origin.team": "risk"}}, "class": "extended"},
    {"name": "pii", "match": {"entities": {"any_of": ["*"]}}, "class": "short"},
)


@pytest.mark.parametrize(
    ("ev", "entities", "expected_class", "expected_rule"),
    [
        pytest.param(event(model="chat", version="1"), set(), "standard", None, id="default"),
        pytest.param(event(model="chat", version="1"), {"EMAIL_ADDRESS"}, "short", "pii", id="pii"),
        pytest.param(
            event(model="chat", metadata={"legal_hold": True}),
            {"AWS_ACCESS_KEY"},
            "legal_hold",
            "hold",
            id="order-hold-before-secret",
        ),
        pytest.param(
            event(model="chat", metadata={"legal_hold": "TRUE"}),
            set(),
            "legal_hold",
            "hold",
            id="hold-flag-as-string",
        ),
        pytest.param(
            event(model="chat", metadata={"legal_hold": False}),
            set(),
            "standard",
            None,
            id="hold-false",
        ),
        pytest.param(
            event(model="chat", metadata={"legal_hold": 1}),
            set(),
            "standard",
            None,
            id="hold-number-is-not-bool",
        ),
        pytest.param(
            event(model="chat"),
            {"AWS_ACCESS_KEY", "EMAIL_ADDRESS"},
            "ephemeral",
            "aws",
            id="order-secret-before-pii",
        ),
        pytest.param(
            event(model="chat"),
            {"CREDIT_CARD", "US_SSN"},
            "ephemeral",
            "card-and-ssn",
            id="all-of-complete",
        ),
        pytest.param(
            event(model="chat"),
            {"CREDIT_CARD"},
            "short",
            "pii",
            id="all-of-incomplete",
        ),
        pytest.param(
            event(model="credit-risk", version="3.2.0"),
            {"CREDIT_CARD", "US_SSN"},
            "ephemeral",
            "card-and-ssn",
            id="order-entities-before-model",
        ),
        pytest.param(
            event(
                model="chat", metadata={"region": "eu-west-1", "data_classification": "restricted"}
            ),
            set(),
            "short",
            "eu-restricted",
            id="metadata-all-keys",
        ),
        pytest.param(
            event(
                model="chat", metadata={"region": "us-east-1", "data_classification": "restricted"}
            ),
            set(),
            "standard",
            None,
            id="metadata-glob-miss",
        ),
        pytest.param(
            event(model="chat", metadata={"region": "eu-west-1"}),
            set(),
            "standard",
            None,
            id="metadata-key-missing",
        ),
        pytest.param(
            event(
                model="chat",
                metadata={"region": ["eu-west-1"], "data_classification": "restricted"},
            ),
            set(),
            "standard",
            None,
            id="metadata-glob-only-on-strings",
        ),
        pytest.param(
            event(model="credit-risk", version="3.2.0"),
            set(),
            "extended",
            "audit-v3",
            id="model-and-version-globs",
        ),
        pytest.param(
            event(model="credit-risk", version="2.9"),
            set(),
            "standard",
            None,
            id="version-glob-miss",
        ),
        pytest.param(
            event(model="Credit-risk", version="3.0"),
            set(),
            "standard",
            None,
            id="globs-case-sensitive",
        ),
        pytest.param(
            event(model="chat", tenant="beta-1"),
            set(),
            "short",
            "tenant-beta",
            id="tenant-glob-list-first",
        ),
        pytest.param(
            event(model="chat", tenant="gamma"),
            set(),
            "short",
            "tenant-beta",
            id="tenant-glob-list-second",
        ),
        pytest.param(
            event(model="chat", tenant="beta-12"),
            set(),
            "standard",
            None,
            id="tenant-question-mark-one-char",
        ),
        pytest.param(event(model="chat", tenant=None), set(), "standard", None, id="tenant-absent"),
        pytest.param(
            event(model="chat", metadata={"origin": {"team": "risk"}}),
            set(),
            "extended",
            "nested",
            id="metadata-dotted-path",
        ),
        pytest.param(
            event(model="chat", metadata={"origin.team": "risk"}),
            set(),
            "extended",
            "nested",
            id="metadata-dotted-key",
        ),
    ],
)
def test_rule_table(
    ev: dict[str, Any], entities: set[str], expected_class: str, expected_rule: str | None
) -> None:
    decision = TABLE_POLICY.classify(ev, entities)
    assert (decision.class_name, decision.rule) == (expected_class, expected_rule)
    assert decision.policy_version == TABLE_POLICY.version


def test_default_class_is_configurable() -> None:
    policy = make_policy(
        {"name": "pii", "match": {"entities": {"any_of": ["*"]}}, "class": "short"},
        default="extended",
    )
    assert policy.classify(event(), ()).class_name == "extended"


def test_event_without_model_block_matches_no_model_rule() -> None:
    policy = make_policy({"name": "any-model", "match": {"model": "*"}, "class": "short"})
    broken = {"timestamp": "2026-01-01T00:00:00Z"}
    assert policy.classify(broken, ()).rule is None


# ------------------------------------------------------------------ the shipped default policy


@pytest.fixture(scope="module")
def default_policy() -> RetentionPolicy:
    return load_policy(DEFAULT_POLICY, strict_unreachable=True)


@pytest.mark.parametrize(
    ("entities", "metadata", "expected"),
    [
        (set(), {}, "standard"),
        ({"EMAIL_ADDRESS"}, {}, "short"),
        ({"PHONE_NUMBER", "IP_ADDRESS"}, {}, "short"),
        ({"AWS_ACCESS_KEY"}, {}, "ephemeral"),
        ({"PRIVATE_KEY", "EMAIL_ADDRESS"}, {}, "ephemeral"),
        ({"GITHUB_TOKEN"}, {}, "ephemeral"),
        ({"JWT"}, {}, "ephemeral"),
        (set(), {"data_classification": "restricted"}, "short"),
        ({"EMAIL_ADDRESS"}, {"legal_hold": True}, "legal_hold"),
    ],
)
def test_default_policy(
    default_policy: RetentionPolicy, entities: set[str], metadata: dict[str, Any], expected: str
) -> None:
    assert default_policy.classify(event(metadata=metadata), entities).class_name == expected


def test_default_policy_keeps_pii_shorter_than_clean(default_policy: RetentionPolicy) -> None:
    clean = default_policy.classify(event(), set())
    pii = default_policy.classify(event(), {"EMAIL_ADDRESS"})
    assert clean.expires_at is not None and pii.expires_at is not None
    assert pii.expires_at < clean.expires_at
    assert default_policy.classes["legal_hold"].duration is None
    assert set(default_policy.classes) == {
        "ephemeral",
        "short",
        "standard",
        "extended",
        "legal_hold",
    }


def test_settings_load_the_shipped_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    settings_ = RetentionSettings()
    assert settings_.load_policy() == load_policy(DEFAULT_POLICY)
    # Sanitized topics are named by kafka.topics.sanitized_prefix: an unknown key is refused.
    with pytest.raises(ValueError, match="topic_prefix"):
        RetentionSettings(topic_prefix="inference.sanitized.")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="frozen"):
        settings_.strict_unreachable = True  # type: ignore[misc]


# ------------------------------------------------------------------ version


def test_version_is_content_hash_unless_explicit() -> None:
    a = make_policy({"name": "pii", "match": {"entities": {"any_of": ["*"]}}, "class": "short"})
    b = make_policy({"name": "pii", "match": {"entities": {"any_of": ["*"]}}, "class": "short"})
    c = make_policy({"name": "pii", "match": {"entities": {"any_of": ["*"]}}, "class": "ephemeral"})
    assert a.version == b.version and a.version.startswith("sha256:")
    assert c.version != a.version
    explicit = RetentionPolicy.from_mapping({**a.to_mapping(), "version": "2026-01-15"})
    assert explicit.version == "2026-01-15"


def test_to_mapping_round_trips_and_drops_a_computed_version(
    default_policy: RetentionPolicy,
) -> None:
    data = default_policy.to_mapping()
    assert "version" not in data
    assert data["classes"]["legal_hold"]["duration"] is None
    assert data["classes"]["short"]["duration"] == "7d"
    assert RetentionPolicy.from_mapping(data) == default_policy


# ------------------------------------------------------------------ durations
