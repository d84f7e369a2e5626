"""The same pipeline against real Apache Kafka, where a Docker engine answers.

Here (no Docker engine) these tests are skipped with the reason; on a machine with
Docker they start the official Apache Kafka image through testcontainers.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import yaml

from service.demo.stream import DemoConfig, DemoStream
from tests.kafka_helpers import drain, make_settings, produce, sanitized_topics

ROOT = Path(__file__).resolve().parents[2]


def _docker_reason() -> str | None:
    """None when a Docker engine answers a ping, else why the real-Kafka tests skip."""
    import gc
    import os
    import warnings

    import docker

    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return "no Docker engine (no DOCKER_HOST, no /var/run/docker.sock): real-Kafka tests skip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client = docker.from_env(timeout=3)
        except Exception as exc:  # noqa: BLE001 - any failure means no engine to use
            gc.collect()  # close the half-built client's socket inside the filter
            return f"no Docker engine answers ({type(exc).__name__}); real-Kafka tests need one"
        try:
            client.ping()
        except Exception as exc:  # noqa: BLE001
            return f"no Docker engine answers ({type(exc).__name__}); real-Kafka tests need one"
        finally:
            client.close()
            gc.collect()  # the failed client's socket is closed here, inside the filter
    return None


@pytest.fixture(scope="module")
def real_kafka() -> Iterator[str]:
    reason = _docker_reason()
    if reason:
        pytest.skip(reason)
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka:
        yield kafka.get_bootstrap_server()


@pytest.mark.docker
async def test_pipeline_against_real_kafka(real_kafka: str, guardian_factory) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(real_kafka)
    await guardian_factory(settings)
    values = [r.value for r in itertools.islice(DemoStream(DemoConfig(seed=21)), 300) if r.value]
    await produce(real_kafka, settings.kafka.topics.events, values)
    out = await drain(real_kafka, sanitized_topics(settings), expect=len(values), timeout_s=90)
    assert sorted(orjson.loads(m.value)["event_id"] for m in out) == sorted(
        orjson.loads(v)["event_id"] for v in values
    )


def test_compose_file_runs_the_whole_stack() -> None:
    """docker-compose.yml: real Kafka in KRaft mode, Guardian, Prometheus, Alertmanager, Grafana."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "guardian", "prometheus", "alertmanager", "grafana"} <= services.keys()
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]
    guardian_env = services["guardian"]["environment"]
    assert guardian_env["GUARDIAN_KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
    for service in ("prometheus", "alertmanager", "grafana"):
        for volume in services[service]["volumes"]:
            assert (ROOT / volume.split(":")[0]).exists(), volume


def test_dockerfile_runs_as_non_root_with_healthcheck() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.count("FROM ") >= 2  # multi-stage
    user_lines = [line for line in dockerfile.splitlines() if line.startswith("USER ")]
    assert user_lines and not user_lines[-1].split()[1].startswith(("0", "root"))
    assert "HEALTHCHECK" in dockerfile
