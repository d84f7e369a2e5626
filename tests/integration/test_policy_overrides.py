"""Issue 15.2: unsafe policies need an explicit, audited override (API, start-up, check-config)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.errors import ConfigError
from service.redaction.policy import RedactionPolicy
from service.redaction.redactor import Redactor
from service.redaction.settings import RedactionSettings
from service.retention import RetentionPolicy
from tests.api_helpers import api_settings, client_for, headers, post_dry_run, running
from tests.kafka_helpers import ROOT, make_settings

ADMIN = headers("admin")
REASON = "migration window, ticket SEC-42"
SECRET_TERM = "jane@example.com"  # an allow-list value: never repeated in an error


def redaction_file() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "config/redaction.yaml").read_text())
    return data


def retention_file() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "config/retention.yaml").read_text())
    return data


UNSAFE_REDACTION = [
    pytest.param({"scan": []}, "scan", id="no-scan-paths"),
    pytest.param({"entities": []}, "entities", id="no-entities"),
    pytest.param(
        {"scan": [{"path": "inputs.text", "entities": []}]}, "scan[0].entities", id="rule-entities"
    ),
    pytest.param(
        {"operators": {"default": "replace", "EMAIL_ADDRESS": "keep"}},
        "operators.EMAIL_ADDRESS",
        id="keep-operator",
    ),
    pytest.param(
        {"scan": [{"path": "inputs.text", "operators": {"default": "keep"}}]},
        "scan[0].operators.default",
        id="keep-on-a-path",
    ),
    pytest.param(
        {"fields": {"inputs.features.email": "keep"}}, "fields[0].operator", id="keep-field"
    ),
]


@pytest.mark.parametrize(("change", "field"), UNSAFE_REDACTION)
def test_unsafe_redaction_settings_are_named(change: dict[str, Any], field: str) -> None:
    policy = RedactionPolicy.from_mapping({"allow_list": [SECRET_TERM], **change})
    assert [u.field for u in policy.unsafe_settings()] == [field]
    assert RedactionPolicy.from_mapping({"allow_list": [SECRET_TERM]}).unsafe_settings() == []


@pytest.mark.parametrize(
    ("classes", "fields"),
    [
        ({"a": {"duration": None}}, ["classes.a.duration"]),
        ({"a": {"duration": "401d"}}, ["classes.a.duration"]),
        ({"a": {"duration": "400d"}}, []),
        ({"a": {"duration": None, "legal_hold": True}}, []),
        ({"a": {"duration": "9000d", "legal_hold": True}}, []),
    ],
)
def test_unsafe_retention_classes_are_named(classes: dict[str, Any], fields: list[str]) -> None:
    from datetime import timedelta

    policy = RetentionPolicy.from_mapping({"default_class": "a", "classes": classes})
    assert [u.field for u in policy.unsafe_settings(timedelta(days=400))] == fields


async def test_policies_looking_for_nothing_run_instead_of_crashing() -> None:
    """``scan: []`` crashed ``Redactor.start()``; ``entities: []`` failed every event."""
    for data in ({"scan": []}, {"entities": []}):
        redactor = Redactor(RedactionPolicy.from_mapping(data), RedactionSettings(workers=0))
        await redactor.start()
        try:
            [out] = await redactor.redact_batch([{"inputs": {"text": "mail bob@example.com"}}])
        finally:
            await redactor.close()
        assert not out.failed, data
        assert out.event["inputs"]["text"] == "mail bob@example.com"


@pytest.mark.integration
async def test_unsafe_puts_need_an_audited_override(kafka_bootstrap: str) -> None:
    async with running(api_settings(kafka_bootstrap)) as guardian, client_for(guardian.app) as c:
        registry = guardian.metrics.registry
        base = (await c.get("/v1/policies/redaction", headers=ADMIN)).json()["policy"]
        base["allow_list"] = [SECRET_TERM]
        for param in UNSAFE_REDACTION:
            change, field = param.values
            r = await c.put("/v1/policies/redaction", json={**base, **change}, headers=ADMIN)
            assert r.status_code == 422, (param.id, r.text)
            details = r.json()["error"]["details"]
            assert [d["field"] for d in details] == [field], param.id
            assert "override" in details[0]["message"]
            assert SECRET_TERM not in r.text
        assert guardian.control.current.version == 0
        assert registry.get_sample_value("guardian_policy_overrides_total") == 0

        body = {**base, "entities": [], "override": {"reason": REASON}}
        r = await c.put("/v1/policies/redaction", json=body, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert guardian.redactor.policy.entities == []
        assert any(REASON in note and "entities" in note for note in r.json()["notes"])
        record = (await c.get("/v1/audit", headers=ADMIN)).json()["items"][0]
        assert record["after"]["override"] == {"reason": REASON}
        assert any(REASON in note for note in record["notes"])
        assert registry.get_sample_value("guardian_policy_overrides_total") == 1
        guardian.alerts.tick()
        [alert] = [a for a in guardian.alerts.firing() if a.alertname == "GuardianPolicyOverride"]
        assert alert.severity == "warning" and alert.labels["policy"] == "redaction"
        assert REASON not in alert.model_dump_json()  # the reason is in the audit log only
        # The overridden policy runs: nothing is found, nothing fails.
        sample = {"event": {"inputs": {"text": "mail bob@example.com"}}}
        r = await post_dry_run(c, "/v1/policies/redaction/dry-run", sample, ADMIN)
        assert r.status_code == 200 and not r.json()["failed"], r.text

        # Retention: no expiry, or longer than retention.max_duration, needs an override...
        policy = (await c.get("/v1/policies/retention", headers=ADMIN)).json()["policy"]
        for duration in (None, "500d"):
            policy["classes"]["forever"] = {"duration": duration}
            r = await c.put("/v1/policies/retention", json=policy, headers=ADMIN)
            assert r.status_code == 422, r.text
            assert [d["field"] for d in r.json()["error"]["details"]] == [
                "classes.forever.duration"
            ]
        # ... unless the class is under legal hold ...
        policy["classes"]["forever"] = {"duration": None, "legal_hold": True}
        r = await c.put("/v1/policies/retention", json=policy, headers=ADMIN)
        assert r.status_code == 200 and r.json()["notes"] == [], r.text
        assert registry.get_sample_value("guardian_policy_overrides_total") == 1
        # ... or the policy carries one.
        policy["classes"]["forever"] = {"duration": "500d"}
        policy["override"] = {"reason": REASON}
        r = await c.put("/v1/policies/retention", json=policy, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert registry.get_sample_value("guardian_policy_overrides_total") == 2
        assert guardian.retention_policy.override is not None


def write_policies(
    tmp_path: Path, redaction: dict[str, Any], retention: dict[str, Any]
) -> dict[str, Any]:
    red, ret = tmp_path / "redaction.yaml", tmp_path / "retention.yaml"
    red.write_text(yaml.safe_dump(redaction))
    ret.write_text(yaml.safe_dump(retention))
    return {"redaction": {"policy_file": str(red)}, "retention": {"policy_file": str(ret)}}


def check_config(tmp_path: Path, files: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "guardian.yaml"
    config.write_text(yaml.safe_dump(files))
    return subprocess.run(
        [sys.executable, "-m", "service.cli", "check-config", str(config)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_start_up_and_check_config_refuse_unsafe_files(tmp_path: Path) -> None:
    from service.composition import build_guardian

    unsafe_redaction = {**redaction_file(), "scan": [], "allow_list": [SECRET_TERM]}
    files = write_policies(tmp_path, unsafe_redaction, retention_file())
    with pytest.raises(ConfigError) as err:
        build_guardian(make_settings("127.0.0.1:9", **files))
    assert "scan: no scan paths" in str(err.value) and "override" in str(err.value)
    run = check_config(tmp_path, files)
    assert run.returncode == 2
    [line] = run.stderr.strip().splitlines()
    assert "redaction" in line and "scan:" in line and SECRET_TERM not in line

    forever = retention_file()
    forever["classes"]["legal_hold"].pop("legal_hold")
    files = write_policies(tmp_path, redaction_file(), forever)
    run = check_config(tmp_path, files)
    assert run.returncode == 2
    [line] = run.stderr.strip().splitlines()
    assert "classes.legal_hold.duration: no expiry" in line


def test_overridden_files_start_counted_and_alerted(tmp_path: Path) -> None:
    from service.composition import build_guardian

    redaction = {**redaction_file(), "scan": [], "override": {"reason": REASON}}
    files = write_policies(tmp_path, redaction, retention_file())
    guardian = build_guardian(make_settings("127.0.0.1:9", **files))
    assert guardian.metrics.registry.get_sample_value("guardian_policy_overrides_total") == 1
    guardian.alerts.tick()
    assert [a.labels["policy"] for a in guardian.alerts.firing()] == ["redaction"]
    run = check_config(tmp_path, files)
    assert run.returncode == 0 and "config OK" in run.stdout, run.stderr
