"""Retention policy: durations, validation errors, unreachable rules."""

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
from tests.unit.test_retention_policy import CLASSES


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
