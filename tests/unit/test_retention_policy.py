"""Retention policy: rule tables, validation errors, unreachable rules, the shipped default."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.retention import (
    RetentionPolicy,
    RetentionPolicyError,
    RetentionSettings,
    load_policy,
)
from service.retention.durations import format_duration, parse_duration
from service.retention.matching import glob_covers
from tests.strategies_retention import entity_sets, events, policies

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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1d", timedelta(days=1)),
        ("7d", timedelta(days=7)),
        ("12h", timedelta(hours=12)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("90m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
        ("1500ms", timedelta(milliseconds=1500)),
        (" 30D ", timedelta(days=30)),
        (None, None),
    ],
)
def test_parse_duration(text: str | None, expected: timedelta | None) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["0d", "0s", "-1d", "1y", "abc", "d", "1.5d", "", 30, 1.5, True])
def test_bad_durations_are_refused_naming_the_class(bad: object) -> None:
    with pytest.raises(RetentionPolicyError, match=r"classes\.short\.duration"):
        RetentionPolicy.from_mapping(
            {"default_class": "short", "classes": {"short": {"duration": bad}}}
        )


@pytest.mark.parametrize(
    "td", [timedelta(days=365), timedelta(hours=36), timedelta(milliseconds=1)]
)
def test_format_duration_round_trips(td: timedelta) -> None:
    assert parse_duration(format_duration(td)) == td


# ------------------------------------------------------------------ validation errors


def policy_with(rules: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"default_class": "standard", "classes": CLASSES, "rules": rules, **extra}


PII = {"entities": {"any_of": ["*"]}}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(
            policy_with(
                [
                    {"name": "ok", "match": PII, "class": "short"},
                    {"name": "typo", "match": PII, "class": "shrot"},
                ]
            ),
            r"rules\[1\] 'typo': class 'shrot' is not defined",
            id="unknown-class",
        ),
        pytest.param(
            policy_with(
                [
                    {"name": "same", "match": PII, "class": "short"},
                    {"name": "other", "match": {"model": "x"}, "class": "short"},
                    {"name": "same", "match": {"model": "y"}, "class": "short"},
                ]
            ),
            r"rules\[2\] 'same': duplicate rule name, already used by rules\[0\]",
            id="duplicate-name",
        ),
        pytest.param(
            policy_with([{"name": "r", "match": {"modle": "x"}, "class": "short"}]),
            r"rules\[0\] 'r': match\.modle: Extra inputs are not permitted",
            id="unknown-condition",
        ),
        pytest.param(
            policy_with([{"name": "r", "match": {"entities": {}}, "class": "short"}]),
            r"rules\[0\] 'r': match\.entities: entities needs a non-empty any_of or all_of",
            id="empty-entities",
        ),
        pytest.param(
            policy_with([{"name": "r", "match": {"model": []}, "class": "short"}]),
            r"rules\[0\] 'r': match\.model",
            id="empty-glob-list",
        ),
        pytest.param(
            policy_with([{"name": "r", "match": {"metadata": {"x": {"a": 1}}}, "class": "short"}]),
            r"rules\[0\] 'r': match\.metadata\.x",
            id="metadata-value-not-scalar",
        ),
        pytest.param(
            policy_with([{"match": PII, "class": "short"}]),
            r"rules\[0\]: name: Field required",
            id="missing-name",
        ),
        pytest.param(
            policy_with([{"name": "r", "match": PII}]),
            r"rules\[0\] 'r': class: Field required",
            id="missing-class",
        ),
        pytest.param(
            policy_with([], default_class="forever"),
            r"default_class: class 'forever' is not defined",
            id="unknown-default",
        ),
        pytest.param(
            {"default_class": "a", "classes": {"a b": {"duration": "1d"}}},
            r"classes\.<key>\.\[key\]: String should match",  # the name is not repeated
            id="class-name-not-a-topic-name",
        ),
        pytest.param(
            {"default_class": "a", "classes": {}},
            r"classes",
            id="no-classes",
        ),
        pytest.param(["not", "a", "mapping"], r"Input should be", id="not-a-mapping"),
    ],
)
def test_validation_errors_name_the_problem(data: Any, expected: str) -> None:
    with pytest.raises(RetentionPolicyError, match=expected):
        RetentionPolicy.from_mapping(data)


def test_every_problem_is_reported_at_once() -> None:
    data = policy_with(
        [
            {"name": "a", "match": PII, "class": "nope"},
            {"name": "a", "match": PII, "class": "short"},
        ],
        default_class="gone",
    )
    with pytest.raises(RetentionPolicyError) as info:
        RetentionPolicy.from_mapping(data)
    assert len(info.value.problems) == 3


def test_yaml_and_file_errors(tmp_path: Path) -> None:
    with pytest.raises(RetentionPolicyError, match="not valid YAML"):
        RetentionPolicy.from_yaml("classes: [")
    with pytest.raises(RetentionPolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")


# ------------------------------------------------------------------ unreachable rules


@pytest.mark.parametrize(
    ("earlier", "later", "unreachable"),
    [
        ({}, {"model": "x"}, True),
        ({}, {}, True),
        ({"model": "credit-*"}, {"model": "credit-risk"}, True),
        ({"model": "credit-*"}, {"model": "credit-r*"}, True),
        ({"model": "credit-*"}, {"model": ["credit-a", "credit-b"]}, True),
        ({"model": ["a", "b"]}, {"model": "b"}, True),
        ({"model": "credit-*"}, {"model": "credit-*", "tenant": "acme"}, True),
        ({"model": "credit-*"}, {"model": ["credit-a", "fraud"]}, False),
        ({"model": "credit-risk"}, {"model": "credit-*"}, False),
        ({"model": "credit-*", "tenant": "acme"}, {"model": "credit-*"}, False),
        ({"model_version": "3.*"}, {"model_version": "3.1"}, True),
        ({"tenant": "a*"}, {"tenant": "acme"}, True),
        ({"entities": {"any_of": ["*"]}}, {"entities": {"any_of": ["EMAIL_ADDRESS"]}}, True),
        ({"entities": {"any_of": ["*"]}}, {"entities": {"all_of": ["US_SSN"]}}, True),
        (
            {"entities": {"any_of": ["AWS_*"]}},
            {"entities": {"any_of": ["AWS_ACCESS_KEY", "AWS_SECRET"]}},
            True,
        ),
        (
            {"entities": {"any_of": ["AWS_*"]}},
            {"entities": {"any_of": ["AWS_ACCESS_KEY", "JWT"]}},
            False,
        ),
        ({"entities": {"all_of": ["A", "B"]}}, {"entities": {"all_of": ["B", "A", "C"]}}, True),
        ({"entities": {"all_of": ["A", "B"]}}, {"entities": {"all_of": ["A"]}}, False),
        ({"entities": {"all_of": ["A"]}}, {"entities": {"any_of": ["A", "B"]}}, False),
        ({"entities": {"any_of": ["*"]}}, {"model": "x"}, False),
        (
            {"metadata": {"region": "eu-*"}},
            {"metadata": {"region": "eu-west-1", "tier": "gold"}},
            True,
        ),
        ({"metadata": {"region": "eu-*"}}, {"metadata": {"tier": "gold"}}, False),
        ({"metadata": {"legal_hold": True}}, {"metadata": {"legal_hold": True}}, True),
        ({"metadata": {"legal_hold": True}}, {"metadata": {"legal_hold": False}}, False),
        ({"metadata": {"n": 1}}, {"metadata": {"n": [1, 2]}}, False),
    ],
)
def test_unreachable_rules(
    earlier: dict[str, Any], later: dict[str, Any], unreachable: bool
) -> None:
    data = policy_with(
        [
            {"name": "first", "match": {"model": "never-seen-model"}, "class": "short"},
            {"name": "earlier", "match": earlier, "class": "short"},
            {"name": "later", "match": later, "class": "extended"},
        ]
    )
    policy = RetentionPolicy.from_mapping(data)
    found = policy.unreachable_rules()
    if unreachable:
        assert [(u.index, u.name, u.shadowed_by_index, u.shadowed_by_name) for u in found] == [
            (2, "later", 1, "earlier")
        ]
        assert "rules[2] 'later' is unreachable" in str(found[0])
        with pytest.raises(RetentionPolicyError, match=r"rules\[2\] 'later' is unreachable"):
            RetentionPolicy.from_mapping(data, strict_unreachable=True)
    else:
        assert found == []
        RetentionPolicy.from_mapping(data, strict_unreachable=True)


def test_strict_setting_applies_to_file(tmp_path: Path) -> None:
    path = tmp_path / "retention.yaml"
    path.write_text(
        "default_class: a\nclasses: {a: {duration: 1d}}\n"
        "rules:\n  - {name: all, class: a}\n  - {name: x, match: {model: m}, class: a}\n"
    )
    assert len(RetentionSettings(policy_file=path).load_policy().unreachable_rules()) == 1
    with pytest.raises(RetentionPolicyError, match=r"rules\[1\] 'x' is unreachable"):
        RetentionSettings(policy_file=path, strict_unreachable=True).load_policy()


@pytest.mark.parametrize(
    ("wide", "narrow", "covers"),
    [
        ("*", "anything*", True),
        ("ab*", "abc?", True),
        ("a?c", "abc", True),
        ("a?c", "a?c", True),
        ("a[bc]*", "ab", True),
        ("a[bc]*", "ab*", False),
        ("ab*", "a*", False),
        ("a*", "*a", False),
    ],
)
def test_glob_covers(wide: str, narrow: str, covers: bool) -> None:
    assert glob_covers(wide, narrow) is covers


@settings(max_examples=150, deadline=None)
@given(
    data=policies(), samples=st.lists(st.tuples(events(), entity_sets()), min_size=1, max_size=20)
)
def test_unreachable_analysis_is_sound(
    data: dict[str, Any], samples: list[tuple[dict[str, Any], frozenset[str]]]
) -> None:
    """A reported rule never wins, and whatever it matches its shadowing rule matches too."""
    policy = RetentionPolicy.from_mapping(data)
    unreachable = policy.unreachable_rules()
    alone = [RetentionPolicy.from_mapping({**data, "rules": [rule]}) for rule in data["rules"]]
    for ev, entities in samples:
        decision = policy.classify(ev, entities)
        assert decision.rule not in {u.name for u in unreachable}
        for u in unreachable:
            if alone[u.index].match(ev, entities) is not None:
                assert alone[u.shadowed_by_index].match(ev, entities) is not None
