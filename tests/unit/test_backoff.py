"""Retries with bounded exponential backoff and full jitter (service/backoff.py), deterministic:
the random source is injected."""

from __future__ import annotations

import doctest
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import service.backoff
from service.alerting.sinks import WebhookSink
from service.backoff import Backoff, Retrying


def test_module_examples() -> None:
    assert doctest.testmod(service.backoff).failed == 0


@given(
    base=st.floats(0.001, 60),
    cap=st.floats(0.001, 600),
    attempt=st.integers(-3, 500),
    draw=st.floats(0, 1, exclude_max=True),
)
def test_every_delay_is_within_zero_and_the_capped_exponential(
    base: float, cap: float, attempt: int, draw: float
) -> None:
    backoff = Backoff(base, cap, rand=lambda: draw)
    delay = backoff.delay(attempt)
    assert 0 <= delay <= min(cap, base * 2 ** min(max(attempt, 0), 32))
    assert delay <= cap


def test_full_jitter_spreads_each_retry_over_its_whole_range() -> None:
    draws = iter([0.0, 0.5, 0.999])
    backoff = Backoff(1.0, 30.0, rand=lambda: next(draws))
    assert [backoff.delay(3) for _ in range(3)] == [0.0, 4.0, pytest.approx(7.992)]


def test_retrying_counts_failures_and_resets_after_a_success() -> None:
    retry = Retrying(Backoff(0.5, 2.0, rand=lambda: 1.0))
    assert [retry.next() for _ in range(4)] == [0.5, 1.0, 2.0, 2.0]
    retry.reset()
    assert retry.next() == 0.5


def test_a_bad_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="base"):
        Backoff(0, 1)


async def test_alert_deliveries_wait_the_jittered_delays(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr("service.alerting.sinks.asyncio.sleep", no_sleep)
    answers = iter([503, 503, 503, 200])
    transport = httpx.MockTransport(lambda request: httpx.Response(next(answers)))
    draws = iter([0.5, 0.25, 1.0])
    async with httpx.AsyncClient(transport=transport) as client:
        sink = WebhookSink(
            "http://receiver.invalid/hook",
            client=client,
            retries=3,
            backoff=Backoff(2.0, 5.0, rand=lambda: next(draws)),
        )
        body: Any = {"alerts": []}
        assert await sink._post(body)
    # retry n waits draw * min(cap, base * 2**n): 0.5*2, 0.25*4, 1.0*min(5, 8)
    assert waits == [1.0, 1.0, 5.0]


async def test_the_sink_settings_still_make_a_jittered_schedule() -> None:
    sink = WebhookSink("http://receiver.invalid/hook", backoff_seconds=0.5, backoff_max_seconds=3)
    assert sink._delays.ceiling(0) == 0.5 and sink._delays.ceiling(9) == 3
