"""Helpers of the control-plane tests: tokens per role, settings, an async client."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from detectors.results import DriftResult
from service.api.auth import token_digest
from tests.kafka_helpers import make_settings

TOKENS = {
    "viewer": "viewer-token-0123456789",
    "operator": "operator-token-0123456789",
    "admin": "admin-token-0123456789",
}
NAMES = {"viewer": "vera", "operator": "otto", "admin": "alice"}


def token_specs() -> list[dict[str, str]]:
    return [
        {"name": NAMES[role], "role": role, "token_sha256": token_digest(token)}
        for role, token in TOKENS.items()
    ]


def api_settings(bootstrap: str, **overrides: Any) -> Any:
    auth = {"tokens": token_specs(), "max_failures_per_minute": 1000, **overrides.pop("auth", {})}
    redaction = {"workers": 0, **overrides.pop("redaction", {})}
    # The first dry run builds its sandbox engine; on a loaded machine that takes longer
    # than the shipped 2 s budget, and the route answers 503 (tested on its own).
    http = {"dry_run_timeout_s": 30.0, **overrides.pop("http", {})}
    return make_settings(bootstrap, auth=auth, redaction=redaction, http=http, **overrides)


def headers(role: str | None) -> dict[str, str]:
    return {} if role is None else {"Authorization": f"Bearer {TOKENS[role]}"}


@contextlib.asynccontextmanager
async def client_for(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://guardian") as client:
        yield client


@contextlib.asynccontextmanager
async def running(settings: Any) -> AsyncIterator[Any]:
    """A started Guardian (Kafka clients, config store) without its consume loop."""
    from service.composition import build_guardian

    guardian = build_guardian(settings)
    await guardian.start()
    try:
        yield guardian
    finally:
        await guardian.close()


def seed_detector(guardian: Any, model: str = "credit-risk", version: str = "3.2.0") -> str:
    """Create this model's detectors on a replica as traffic would; return the age detector id."""
    guardian.detectors.observe(model, version, {"age": 41.0}, {}, ts=0.0)
    guardian.detect.versions.setdefault(model, set()).add(version)
    return f"{model}/{version}/age/rank_window"  # the default: the budgeted rank test


def seed_alert(guardian: Any, model: str = "credit-risk") -> str:
    now = time.time()
    guardian.alerts.ingest(
        DriftResult(
            model=model,
            version="3.2.0",
            feature="age",
            detector="adwin",
            detector_id=f"{model}/3.2.0/age/adwin",
            statistic=1.0,
            at=now,
            n_seen=500,
            details={},
        ),
        now=now,
    )
    return guardian.alerts.list_alerts()[0].id


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 30.0) -> float:
    """Seconds until ``check()`` held; fails the test after ``timeout_s``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout_s}s")


async def post_dry_run(
    client: Any, path: str, body: Any, headers: dict[str, str], timeout_s: float = 120.0
) -> Any:
    """POST a dry-run, retrying while its lazily built engine answers 503 (being built).

    Building a sandbox engine takes seconds, longer on a loaded machine; the API says
    so with 503 and Retry-After, and a client retries, as this does.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        r = await client.post(path, json=body, headers=headers)
        if r.status_code != 503 or "being built" not in r.text or time.monotonic() > deadline:
            return r
        await asyncio.sleep(0.5)
