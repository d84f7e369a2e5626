"""Unit tier: no broker, no network, no external binaries; `make test-fast` runs it alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Unit tests take no broker: a test that asks for one belongs in tests/integration."""
    pytest.fail("a unit test asked for a Kafka broker; move it to tests/integration")
    yield ""  # pragma: no cover


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/unit/" in item.nodeid:
            item.add_marker(pytest.mark.unit)
