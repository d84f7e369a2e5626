"""``make demo`` stays bounded: one redaction worker, a publisher that stops (issue 19)."""

from __future__ import annotations

import pytest

from service.demo import run


def test_demo_runs_one_redaction_worker_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUARDIAN_REDACTION__WORKERS", raising=False)
    env = run._guardian_env("127.0.0.1:9092", 8080, local=True)
    assert env["GUARDIAN_REDACTION__WORKERS"] == "1"
    monkeypatch.setenv("GUARDIAN_REDACTION__WORKERS", "2")
    assert (
        run._guardian_env("127.0.0.1:9092", 8080, local=True)["GUARDIAN_REDACTION__WORKERS"] == "2"
    )


def test_demo_publisher_stops_after_demo_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "DEMO_EVENTS", 180_000)
    args = run._publisher_args("127.0.0.1:9092")
    assert args[args.index("--count") + 1] == "180000"
    assert "publisher stops after 180,000 events" in run._banner(8080, "b:1", run.ROOT)
