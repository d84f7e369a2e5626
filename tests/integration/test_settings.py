"""Settings: defaults from config/, env overrides, one clear line on a bad value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from service.settings import GuardianSettings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_come_from_config_yaml() -> None:
    s = GuardianSettings.load()
    assert s.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert s.kafka.topics.events == "inference.events"
    assert s.kafka.delivery == "at_least_once"
    assert (s.http.host, s.http.port) == ("127.0.0.1", 8080)


def test_env_overrides_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDIAN_KAFKA__BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("GUARDIAN_KAFKA__TOPICS__DLQ", "my.dlq")
    monkeypatch.setenv("GUARDIAN_HTTP__PORT", "9000")
    s = GuardianSettings.load()
    assert s.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert s.kafka.topics.dlq == "my.dlq"
    assert s.kafka.topics.events == "inference.events"  # other nested keys kept
    assert s.http.port == 9000


def test_yaml_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("kafka:\n  group_id: other\n  max_batch: 10\n")
    s = GuardianSettings.load(path)
    assert (s.kafka.group_id, s.kafka.max_batch) == ("other", 10)


def test_settings_are_frozen_and_secrets_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARDIAN_KAFKA__SASL_PASSWORD", "hunter2-very-secret")
    s = GuardianSettings.load()
    assert "hunter2" not in repr(s) and "hunter2" not in s.model_dump_json()
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error type
        s.kafka.group_id = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"GUARDIAN_KAFKA__DELIVERY": "maybe_once"}, "GUARDIAN_KAFKA__DELIVERY"),
        ({"GUARDIAN_HTTP__PORT": "70000"}, "GUARDIAN_HTTP__PORT"),
        ({"GUARDIAN_KAFKA__BOOTSTRAP_SERVERS": "nohostport"}, "GUARDIAN_KAFKA__BOOTSTRAP_SERVERS"),
    ],
)
def test_invalid_setting_stops_start_up_with_one_line(env: dict[str, str], key: str) -> None:
    import os

    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "run"],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert key in lines[0] and "invalid setting" in lines[0]
    assert env[next(iter(env))] not in lines[0] or key.endswith("PORT")  # value not echoed


def test_schema_command_prints_json_schema() -> None:
    import json

    out = subprocess.run(
        [sys.executable, "-m", "service.cli", "schema"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    schemas = json.loads(out)
    assert {"inference_event", "label"} <= schemas.keys()


@pytest.mark.parametrize(
    "env",
    [
        # Topics are named by kafka.topics (alerts, sanitized_prefix) only.
        "GUARDIAN_ALERTING__TOPIC",
        "GUARDIAN_RETENTION__TOPIC_PREFIX",
    ],
)
def test_settings_without_effect_are_refused_by_name(
    env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pydantic import ValidationError

    from service.settings import describe_validation_error

    monkeypatch.setenv(env, "x.")
    with pytest.raises(ValidationError) as err:
        GuardianSettings.load()
    line = describe_validation_error(err.value)
    assert f"({env}): Extra inputs are not permitted" in line and "x." not in line
