"""Shared fixtures: one local Kafka-compatible broker per test session."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator

import pytest

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from service.kafka.broker import LocalBroker
from tests.kafka_helpers import free_port

# The run fails if a process it started outlives it (tests/process_guard.py).
from tests.process_guard import pytest_sessionfinish, pytest_sessionstart  # noqa: F401


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of a broker for this session.

    ``GUARDIAN_TEST_BOOTSTRAP`` points the tests at a running Kafka; otherwise a
    fresh ``noida-db`` broker is started on a free port and removed afterwards.
    """
    external = os.environ.get("GUARDIAN_TEST_BOOTSTRAP")
    if external:
        yield external
        return
    broker = LocalBroker(port=free_port())
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
async def guardian_factory(kafka_bootstrap: str) -> AsyncIterator[object]:
    """Start in-process Guardians on unique topics; all are stopped at teardown."""
    from service.composition import build_guardian
    from service.runtime import Guardian

    running: list[tuple[Guardian, asyncio.Event, asyncio.Task[None]]] = []

    async def start(settings: object) -> Guardian:
        guardian = build_guardian(settings)  # type: ignore[arg-type]
        await guardian.start()
        stop = asyncio.Event()
        task = asyncio.create_task(guardian.worker.run(stop))
        running.append((guardian, stop, task))
        return guardian

    yield start
    for guardian, stop, task in running:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout=10)
        await guardian.close()
