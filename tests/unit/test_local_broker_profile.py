"""The empty-fetch wait is a local-broker work-around: off by default, on wherever noida-db runs."""

from __future__ import annotations

import pytest

from service.kafka.broker import LOCAL_BROKER_KAFKA, local_broker_env
from service.settings import GuardianSettings, KafkaSettings
from tests.kafka_helpers import make_settings, settings_env


def test_the_wait_is_off_by_default() -> None:
    assert KafkaSettings().empty_fetch_backoff_ms == 0


def test_the_local_broker_profile_turns_it_on_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert local_broker_env() == {"GUARDIAN_KAFKA__EMPTY_FETCH_BACKOFF_MS": "5"}
    for name, value in local_broker_env().items():
        monkeypatch.setenv(name, value)
    assert GuardianSettings.load(None).kafka.empty_fetch_backoff_ms == 5


def test_the_test_fixtures_use_the_profile_on_the_local_broker_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GUARDIAN_TEST_BOOTSTRAP", raising=False)
    local = make_settings("127.0.0.1:9")
    assert local.kafka.empty_fetch_backoff_ms == LOCAL_BROKER_KAFKA["empty_fetch_backoff_ms"]
    assert settings_env(local)["GUARDIAN_KAFKA__EMPTY_FETCH_BACKOFF_MS"] == "5"
    monkeypatch.setenv("GUARDIAN_TEST_BOOTSTRAP", "kafka:9092")
    assert make_settings("kafka:9092").kafka.empty_fetch_backoff_ms == 0
