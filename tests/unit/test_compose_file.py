"""docker-compose.yml: what the demo stack exposes and in which order it starts.

No Docker engine runs here; these checks read the file as Compose would, and
validate it against the Compose specification's JSON schema (the copy
check-jsonschema vendors, pinned in the dev extra; nothing is downloaded).
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


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


def compose_schema() -> dict[str, Any]:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads((vendor / "compose-spec.json").read_text("utf-8"))
    return schema


def test_the_file_follows_the_compose_specification() -> None:
    schema = compose_schema()
    assert schema["title"] == "Compose Specification"
    jsonschema.validators.validator_for(schema)(schema).validate(
        yaml.safe_load(COMPOSE.read_text())
    )


def test_the_schema_check_catches_a_mistake() -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    doc["services"]["guardian"]["depends_on"]["kafka"]["condition"] = "service_ready"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, compose_schema())


#: Oldest release line still maintained upstream when this was last reviewed (2026-12).
MAINTAINED = {
    "apache/kafka": (4, 0),
    "prom/prometheus": (3, 5),
    "prom/alertmanager": (0, 28),
    "grafana/grafana": (12, 0),
}


@pytest.mark.parametrize("image", sorted(MAINTAINED))
def test_third_party_images_are_pinned_to_a_maintained_release(image: str) -> None:
    refs = [s["image"] for s in services().values() if s.get("image", "").startswith(image + ":")]
    assert len(refs) == 1, refs
    version = re.fullmatch(re.escape(image) + r":v?(\d+)\.(\d+)\.(\d+)", refs[0])
    assert version, f"{refs[0]}: pin an exact release, not a moving tag"
    assert (int(version[1]), int(version[2])) >= MAINTAINED[image], refs[0]
