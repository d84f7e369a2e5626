"""Issue 15.4: dry runs are isolated from the pipeline (role, size, time budget, rate, engine)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

import service.api.dry_run as dry_run_module
from tests.api_helpers import api_settings, client_for, headers, post_dry_run, running

pytestmark = pytest.mark.integration

OPERATOR, ADMIN = headers("operator"), headers("admin")
REDACTION = "/v1/policies/redaction/dry-run"
RETENTION = "/v1/policies/retention/dry-run"
SAMPLE = {"event": {"inputs": {"text": "mail jane@example.com"}}}


async def build_engine(c: Any) -> None:
    """Wait until the lazily built dry-run engine answers (503 while it is being built)."""
    r = await post_dry_run(c, REDACTION, SAMPLE, ADMIN)
    assert r.status_code == 200, r.text


async def test_role_size_and_rate_limits(kafka_bootstrap: str) -> None:
    settings = api_settings(
        kafka_bootstrap, http={"max_dry_run_bytes": 2048, "dry_runs_per_minute": 3}
    )
    async with running(settings) as guardian, client_for(guardian.app) as c:
        for path in (REDACTION, RETENTION):
            r = await c.post(path, json=SAMPLE, headers=headers("viewer"))
            assert r.status_code == 403, r.text

        big = {"event": {"inputs": {"text": "x" * 4096}}}
        r = await c.post(REDACTION, json=big, headers=OPERATOR)
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
        assert "max_dry_run_bytes" in r.json()["error"]["message"]

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
            yield b'{"event": {"inputs": {"text": "'
            for _ in range(8):
                yield b"y" * 512
            yield b'"}}}'

        r = await c.post(
            RETENTION, content=chunks(), headers={**OPERATOR, "Content-Type": "application/json"}
        )
        assert r.status_code == 413, r.text

        # Three dry runs per minute and token (the refused ones above were not counted).
        for _ in range(3):
            r = await c.post(RETENTION, json=SAMPLE, headers=OPERATOR)
            assert r.status_code == 200, r.text
        r = await c.post(REDACTION, json=SAMPLE, headers=OPERATOR)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        assert r.json()["error"]["code"] == "rate_limited"
        # Another token is not limited by this one.
        r = await c.post(RETENTION, json=SAMPLE, headers=ADMIN)
        assert r.status_code == 200, r.text


async def test_a_slow_dry_run_never_touches_the_pipeline(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = api_settings(kafka_bootstrap, http={"dry_run_timeout_s": 1.0})
    release = threading.Event()
    release.set()
    real_find_all = dry_run_module.analyze_items

    def slow_find_all(engine: Any, items: Any) -> Any:
        release.wait(timeout=60)  # a sample that takes longer than the budget
        return real_find_all(engine, items)

    monkeypatch.setattr(dry_run_module, "analyze_items", slow_find_all)
    try:
        await slow_dry_runs(settings, release)
    finally:
        release.set()


async def slow_dry_runs(settings: Any, release: threading.Event) -> None:
    async with running(settings) as guardian, client_for(guardian.app) as c:
        registry = guardian.metrics.registry
        pipeline_executor = guardian.redactor._executor
        await build_engine(c)
        r = await c.post(REDACTION, json=SAMPLE, headers=OPERATOR)
        assert (
            r.status_code == 200 and r.json()["event"]["inputs"]["text"] == "mail <EMAIL_ADDRESS>"
        )

        release.clear()
        r = await c.post(
            REDACTION, json={"event": {"inputs": {"text": "call 555-0199"}}}, headers=OPERATOR
        )
        assert r.status_code == 503, r.text
        assert "time budget" in r.text and "dry_run_timeout_s" in r.text
        r = await c.post(
            REDACTION, json={"event": {"inputs": {"text": "other 555-0100"}}}, headers=OPERATOR
        )
        assert r.status_code == 503 and "still running" in r.text
        assert int(r.headers["Retry-After"]) > 0

        # Meanwhile the pipeline's own redactor, pool and metrics are untouched.
        [out] = await guardian.redactor.redact_batch([{"inputs": {"text": "mail bob@example.com"}}])
        assert not out.failed and out.event["inputs"]["text"] == "mail <EMAIL_ADDRESS>"
        assert guardian.redactor._executor is pipeline_executor
        # One pipeline redaction; the dry runs' e-mail findings were not counted.
        assert (
            registry.get_sample_value("guardian_redactions_total", {"entity": "EMAIL_ADDRESS"}) == 1
        )
        assert registry.get_sample_value("guardian_redaction_failures_total") == 0
        release.set()  # before close() waits for the sandbox thread
