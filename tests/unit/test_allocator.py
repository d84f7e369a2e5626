"""malloc_trim: found on glibc, called on its interval, stopped with the service."""

from __future__ import annotations

import asyncio
import platform

import pytest

from service import allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_malloc_trim_is_found_and_answers() -> None:
    assert allocator.malloc_trim() in (True, False)


async def test_trims_on_its_interval_until_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    stop = asyncio.Event()

    def fake_trim(pad: int) -> int:
        calls.append(pad)
        if len(calls) == 3:
            stop.set()
        return 1

    monkeypatch.setattr(allocator, "_load_malloc_trim", lambda: fake_trim)
    await asyncio.wait_for(allocator.trim_periodically(0.001, stop), timeout=60)
    assert calls == [0, 0, 0]


@pytest.mark.parametrize("interval", [0.0, 5.0])
async def test_off_or_without_glibc_nothing_runs(
    monkeypatch: pytest.MonkeyPatch, interval: float
) -> None:
    monkeypatch.setattr(allocator, "_load_malloc_trim", lambda: None)
    await asyncio.wait_for(allocator.trim_periodically(interval, asyncio.Event()), timeout=60)
