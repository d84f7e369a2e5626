"""Small, fully controlled event streams for the end-to-end tests.

The demo stream mixes models, text and injected effects; the "must show" checks
need streams whose every property is known: numeric features with a known mean
and standard deviation, a shift of exactly k sigma at a known event, protected
groups with chosen selection and error rates. Values are seeded, so a failure
replays exactly.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
from prometheus_client import CollectorRegistry


@dataclass(frozen=True)
class NumericFeature:
    """A Gaussian feature: ``N(mean, sigma)``."""

    name: str
    mean: float
    sigma: float


def iso(ts: float) -> str:
    """Unix seconds as the ISO-8601 UTC timestamp events carry."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event(
    model: str,
    features: dict[str, Any],
    *,
    ts: float,
    version: str = "1.0.0",
    outputs: dict[str, Any] | None = None,
    protected: dict[str, str] | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """One schema-v1 inference event."""
    body: dict[str, Any] = {
        "schema_version": 1,
        "event_id": event_id or str(uuid.uuid4()),
        "timestamp": iso(ts),
        "model": {"name": model, "version": version},
        "inputs": {"features": features},
    }
    if outputs is not None:
        body["outputs"] = outputs
    if protected is not None:
        body["subject"] = {"protected": protected}
    return body


def gaussian_events(
    model: str,
    features: Sequence[NumericFeature],
    n: int,
    rng: np.random.Generator,
    *,
    shift: dict[str, float] | None = None,
    start_ts: float | None = None,
) -> list[bytes]:
    """``n`` encoded events; ``shift`` moves a feature's mean by that many of its sigmas."""
    shift = shift or {}
    t0 = time.time() if start_ts is None else start_ts
    columns = {
        f.name: rng.normal(f.mean + shift.get(f.name, 0.0) * f.sigma, f.sigma, n) for f in features
    }
    return [
        orjson.dumps(
            event(model, {name: float(col[i]) for name, col in columns.items()}, ts=t0 + i * 1e-3)
        )
        for i in range(n)
    ]


def label(model: str, event_id: str, value: int, *, version: str = "1.0.0") -> bytes:
    """One schema-v1 ground-truth label."""
    return orjson.dumps(
        {
            "schema_version": 1,
            "event_id": event_id,
            "model": {"name": model, "version": version},
            "label": value,
            "timestamp": iso(time.time()),
        }
    )


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A sample's value, 0 when the series does not exist."""
    return registry.get_sample_value(name, labels) or 0.0


def samples(registry: CollectorRegistry, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample called ``name`` (labels, value) in a registry."""
    return [
        (dict(s.labels), s.value)
        for family in registry.collect()
        for s in family.samples
        if s.name == name
    ]


async def wait_for(
    check: Callable[[], bool], *, within: float = 20.0, what: str = "condition"
) -> None:
    """Poll ``check`` every 50 ms; fail with ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within}s")
        await asyncio.sleep(0.05)
