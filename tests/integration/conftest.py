"""Integration tier: one part of Guardian against a real dependency.

The session's local broker (tests/conftest.py), real Presidio engines with the NER
model and worker processes, real Prometheus, Alertmanager, promtool, kcat, hadolint
and Chromium where installed (skipped with the reason where not).
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in item.nodeid:
            item.add_marker(pytest.mark.integration)
