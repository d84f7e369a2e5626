"""Issue 15.8: no error body or log line repeats submitted values; messages name field and rule."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError, field_validator

from service.redaction.policy import RedactionPolicy, RedactionPolicyError
from service.retention import RetentionPolicy, RetentionPolicyError
from service.validation import describe_errors
from tests.api_helpers import api_settings, client_for, headers, running

ADMIN = headers("admin")
PII = "jane.doe@example.com"
BAD_REDACTION: list[tuple[dict[str, Any], str]] = [
    ({"allow_list_match": "regex", "allow_list": [f"({PII}"]}, "allow_list[0]"),
    ({"scan": [{"path": f"{PII}..x"}]}, "scan.0.path"),
    ({"fields": {f"{PII}..x": "hmac"}}, "fields.0.path"),
    ({"entities": [PII]}, "entities"),
    ({"operators": {PII: "replace"}}, "operators"),
    ({"operators": {"default": PII}}, "operators.default"),
    ({"phone_regions": [PII]}, "phone_regions"),
    ({"language": PII}, "language"),
    ({"score_threshold": PII}, "score_threshold"),
    ({"recognizers": [{"name": PII, "entity": PII, "patterns": []}]}, "recognizers"),
]
BAD_RETENTION: list[tuple[dict[str, Any], str]] = [
    ({"default_class": "a", "classes": {"a": {"duration": PII}}}, "classes.a.duration"),
    ({"default_class": "a", "classes": {PII: {"duration": "1d"}}}, "classes.<key>"),
    (
        {"default_class": "a", "classes": {"a": {"duration": "1d"}}, "rules": [{"name": PII}]},
        "rules[0]",
    ),
    (
        {
            "default_class": "a",
            "classes": {"a": {"duration": "1d"}},
            "rules": [{"name": "r", "class": "a", "match": {"metadata": {"k": [{"x": PII}]}}}],
        },
        "rules[0] 'r'",
    ),
]


@pytest.mark.parametrize(("data", "where"), BAD_REDACTION)
def test_redaction_policy_errors_name_the_field_not_the_value(
    data: dict[str, Any], where: str
) -> None:
    with pytest.raises(RedactionPolicyError) as err:
        RedactionPolicy.from_mapping(data)
    assert where in str(err.value) and PII not in str(err.value)


@pytest.mark.parametrize(("data", "where"), BAD_RETENTION)
def test_retention_policy_errors_name_the_field_not_the_value(
    data: dict[str, Any], where: str
) -> None:
    with pytest.raises(RetentionPolicyError) as err:
        RetentionPolicy.from_mapping(data)
    assert where in str(err.value) and PII not in str(err.value)


def test_a_message_quoting_the_input_is_replaced_by_the_rule() -> None:
    class Model(BaseModel):
        email: str

        @field_validator("email")
        @classmethod
        def _no(cls, value: str) -> str:
            raise ValueError(f"{value} is not allowed here")

    with pytest.raises(ValidationError) as err:
        Model.model_validate({"email": PII})
    assert describe_errors(err.value.errors()) == [("email", "invalid value (value_error)")]
    with pytest.raises(ValidationError) as err:
        Model.model_validate({PII: 1})
    assert describe_errors(err.value.errors()) == [("email", "Field required")]


def test_broken_yaml_is_located_not_quoted(tmp_path: Path) -> None:
    path = tmp_path / "retention.yaml"
    path.write_text(f"default_class: a\nclasses: {{a: [{PII}\n")
    with pytest.raises(RetentionPolicyError) as err:
        RetentionPolicy.from_file(path)
    assert "line" in str(err.value) and PII not in str(err.value)
    redaction = tmp_path / "redaction.yaml"
    redaction.write_text(f"entities: [{PII}\n")
    with pytest.raises(RedactionPolicyError) as red:
        RedactionPolicy.from_yaml(redaction)
    assert "line" in str(red.value) and PII not in str(red.value)


@pytest.mark.integration
async def test_422_bodies_and_logs_never_repeat_values(
    kafka_bootstrap: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(api_settings(kafka_bootstrap)) as guardian, client_for(guardian.app) as c:
        for data, _where in BAD_REDACTION:
            r = await c.put("/v1/policies/redaction", json=data, headers=ADMIN)
            assert r.status_code == 422, (data, r.text)
            assert PII not in r.text and r.json()["error"]["details"], data
        for data, _where in BAD_RETENTION:
            r = await c.put("/v1/policies/retention", json=data, headers=ADMIN)
            assert r.status_code == 422, (data, r.text)
            assert PII not in r.text, data
        # FastAPI's own request validation: pydantic's input and client-chosen keys stripped.
        r = await c.post(
            "/v1/silences",
            json={"matchers": PII, "ends_at": PII, PII: 1},
            headers=ADMIN,
        )
        assert r.status_code == 422 and PII not in r.text
        fields = {d["field"] for d in r.json()["error"]["details"]}
        assert {"body.matchers", "body.ends_at", "body.<key>"} <= fields
        r = await c.post(
            "/v1/policies/retention/dry-run",
            json={"event": {"timestamp": PII}, "entities": [PII * 5]},
            headers=ADMIN,
        )
        assert r.status_code == 422 and PII not in r.text
        r = await c.get("/v1/audit", params={"limit": PII}, headers=ADMIN)
        assert r.status_code == 422 and PII not in r.text
    assert caplog.records and not [rec for rec in caplog.records if PII in rec.getMessage()]
