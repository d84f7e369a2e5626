"""docker-compose.yml: what the demo stack exposes and in which order it starts.

No Docker engine runs here; these checks read the file as Compose would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def services() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    return dict(doc["services"])


def test_every_published_port_is_bound_to_loopback() -> None:
    published = [(name, p) for name, s in services().items() for p in s.get("ports", [])]
    assert published
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_the_image_is_built_once_and_the_publisher_reuses_it() -> None:
    svc = services()
    built = [name for name, s in svc.items() if "build" in s]
    assert built == ["guardian"]
    assert svc["publisher"]["image"] == svc["guardian"]["image"]


def test_the_publisher_waits_for_readiness_and_restarts() -> None:
    svc = services()
    publisher, guardian = svc["publisher"], svc["guardian"]
    assert publisher["depends_on"]["guardian"]["condition"] == "service_healthy"
    assert "/readyz" in " ".join(guardian["healthcheck"]["test"])
    assert publisher["healthcheck"] == {"disable": True}
    assert publisher["restart"] in {"on-failure", "unless-stopped", "always"}


def test_kafka_has_a_listener_for_the_host() -> None:
    env = services()["kafka"]["environment"]
    assert "HOST://localhost:29092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert "127.0.0.1:29092:29092" in services()["kafka"]["ports"]
