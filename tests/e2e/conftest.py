"""End-to-end tier: whole Guardian processes through Kafka, crashes and restarts included,
and the observability stack (Prometheus and Alertmanager) fed by a running Guardian."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in item.nodeid:
            item.add_marker(pytest.mark.e2e)
