"""The composition root wires the parts in one pass (no broker: nothing is started)."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry

from service.alerting.sinks import KafkaAlertSink
from service.composition import build_guardian
from service.retention import RetentionPolicy
from tests.kafka_helpers import make_settings


def _guardian() -> Any:
    return build_guardian(make_settings("127.0.0.1:9"), CollectorRegistry())


async def test_the_api_sees_the_parts_the_pipeline_runs() -> None:
    g = _guardian()
    ports = g.app.state.ports
    assert ports.detectors is g.detectors
    assert ports.store is g.control
    assert ports.alerts is g.alerts
    assert ports.readiness is g.worker
    assert ports.models is g.detect
    assert ports.performance is g.performance
    # the performance config is part of the live document (thresholds change through it)
    assert g.control.current.performance == g.performance.config.model_dump(mode="json")
    assert os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] == ""


async def test_alerts_are_raised_under_the_shared_config_version() -> None:
    g = _guardian()
    version = g.alerts._config_version()
    assert version.startswith("config=v0;redaction=") and ";retention=" in version


async def test_the_alert_topic_sink_writes_through_the_pipeline_queue() -> None:
    g = _guardian()
    [sink] = [s for s in g.alerts.sinks if isinstance(s, KafkaAlertSink)]
    assert sink.topic == g.settings.kafka.topics.alerts
    assert g.worker.queued == 0
    await sink._send(sink.topic, b"key", b"{}")
    assert g.worker.queued == 1


async def test_a_retention_change_reaches_the_retain_stage_and_the_owned_topics() -> None:
    g = _guardian()
    mapping = g.retention_policy.to_mapping()
    mapping["classes"]["scratch"] = {"duration": "1d"}
    mapping["version"] = "with-scratch"
    policy = RetentionPolicy.from_mapping(mapping)
    await g.policies.replace_retention(policy)
    assert g.retain.policy is policy
    prefix = g.settings.kafka.topics.sanitized_prefix
    assert f"{prefix}scratch" in {t.name for t in g.worker.topic_specs}
