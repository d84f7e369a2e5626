"""Policy validation: clear errors naming the rule; defaults; versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.redaction import RedactionPolicy, RedactionPolicyError, RedactionSettings, Redactor
from service.redaction.operators import MissingHmacKey

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_policy_loads_with_the_issue_defaults() -> None:
    policy = RedactionPolicy.from_yaml(ROOT / "config" / "redaction.yaml")
    assert [r.path for r in policy.scan] == [
        "inputs.text",
        "outputs.text",
        "outputs.*",
        "subject.protected.*",
        "metadata.**",
        "inputs.features.*",
        "extra.**",
    ]
    # The code's defaults are the shipped file's.
    assert [r.path for r in RedactionPolicy().scan] == [r.path for r in policy.scan]
    assert "URL" not in policy.entities
    for entity in (
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "IBAN_CODE",
        "IP_ADDRESS",
        "US_SSN",
        "AWS_ACCESS_KEY",
        "GITHUB_TOKEN",
        "SLACK_TOKEN",
        "API_KEY",
        "JWT",
        "PRIVATE_KEY",
        "SECRET",
    ):
        assert entity in policy.entities
    assert not policy.uses_hmac


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"scan": [{"path": "metadata.**", "entities": ["NOPE"]}]}, "scan[0].entities[0]: unknown"),
        ({"fields": {"inputs.features.email": "zap"}}, "fields[0] ('inputs.features.email')"),
        ({"fields": {"a..b": "hmac"}}, "must be dotted segments"),
        ({"fields": {"guardian.x": "drop"}}, "written by Guardian"),
        (
            {
                "recognizers": [
                    {
                        "name": "emp",
                        "entity": "EMP",
                        "patterns": [{"name": "p", "regex": "(", "score": 0.5}],
                    }
                ]
            },
            "recognizers[0] ('emp').patterns.0.regex: regex does not compile",
        ),
        (
            {
                "recognizers": [
                    {
                        "name": "x",
                        "entity": "lower",
                        "patterns": [{"name": "p", "regex": "a", "score": 0.5}],
                    }
                ]
            },
            "UPPER_SNAKE_CASE",
        ),
        ({"operators": {"NOT_AN_ENTITY": "replace"}}, "operators: unknown entity"),
        ({"score_threshold": 2}, "score_threshold"),
        ({"phone_regions": ["usa"]}, "ISO 3166"),
        ({"allow_list_match": "regex", "allow_list": ["("]}, "allow_list"),
        ({"unknown_key": 1}, "unknown_key"),
    ],
)
def test_invalid_policies_name_the_rule(data: dict, fragment: str) -> None:
    with pytest.raises(RedactionPolicyError) as err:
        RedactionPolicy.from_mapping(data)
    assert fragment in str(err.value)


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("scan: [{path: 'x..y'}]\n")
    with pytest.raises(RedactionPolicyError, match=r"p\.yaml.*scan\[0\]"):
        RedactionPolicy.from_yaml(bad)


def test_version_is_a_content_hash_unless_explicit() -> None:
    a = RedactionPolicy()
    b = RedactionPolicy.from_mapping({"score_threshold": 0.4})
    c = RedactionPolicy.from_mapping({"score_threshold": 0.5})
    assert a.version == b.version != c.version
    assert RedactionPolicy.from_mapping({"version": "v7"}).version == "v7"


def test_custom_recognizer_entities_become_known() -> None:
    policy = RedactionPolicy.from_mapping(
        {
            "entities": ["EMPLOYEE_ID"],
            "recognizers": [
                {
                    "name": "emp",
                    "entity": "EMPLOYEE_ID",
                    "patterns": [{"name": "p", "regex": r"EMP-\d{6}", "score": 0.8}],
                }
            ],
        }
    )
    assert policy.all_entities == {"EMPLOYEE_ID"}


def test_hmac_without_key_stops_start_up() -> None:
    policy = RedactionPolicy.from_mapping({"fields": {"inputs.features.email": "hmac"}})
    with pytest.raises(MissingHmacKey, match="no HMAC key"):
        Redactor(policy, RedactionSettings(workers=0))
    Redactor(policy, RedactionSettings(workers=0, hmac_keys={"k1": "x"}, active_hmac_key="k1"))


def test_settings_reject_unknown_active_key_and_mask_secrets() -> None:
    with pytest.raises(ValueError, match="active_hmac_key 'k2'"):
        RedactionSettings(hmac_keys={"k1": "a"}, active_hmac_key="k2")
    settings = RedactionSettings(hmac_keys={"k1": "topsecret"}, active_hmac_key="k1")
    assert "topsecret" not in repr(settings) and "topsecret" not in settings.model_dump_json()


def test_ner_entities_need_a_spacy_model() -> None:
    policy = RedactionPolicy.from_mapping({"entities": ["PERSON"]})
    with pytest.raises(RedactionPolicyError, match="spacy_model"):
        Redactor(policy, RedactionSettings(workers=0, spacy_model=None))
