"""A tiny run of the benchmark suite so it keeps working; no timing is asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from load_tests import harness
from load_tests.__main__ import write_reports
from tests.kafka_helpers import ROOT


@pytest.mark.parametrize(
    "values, q, expected",
    [([1.0], 99, 1.0), ([1.0, 2.0, 3.0, 4.0, 5.0], 50, 3.0), ([0.0, 10.0], 90, 9.0)],
)
def test_percentile_interpolates(values: list[float], q: float, expected: float) -> None:
    assert harness.percentile(values, q) == pytest.approx(expected)


def test_median_of_repeats() -> None:
    assert harness.median([3.0, 1.0, 2.0]) == 2.0


def test_reports_name_machine_broker_and_every_benchmark(tmp_path: object) -> None:
    results = [
        {
            "module": "bench_pipeline",
            "command": "python -m load_tests.bench_pipeline --quick",
            "status": "ok",
            "seconds": 1.0,
            "summary": {"benchmark": "bench_pipeline", "workloads": {}},
            "output": ["guardian full pipeline : 1 events/s", "  .. progress line"],
        }
    ]
    write_reports(results, harness.machine(), True, tmp_path)  # type: ignore[arg-type]
    report = orjson.loads((tmp_path / "report.json").read_bytes())  # type: ignore[operator]
    assert report["machine"]["cores"] == os.cpu_count()
    assert report["machine"]["libraries"]["aiokafka"] == "0.14.0"
    assert report["benchmarks"][0]["summary"]["benchmark"] == "bench_pipeline"
    text = (tmp_path / "report.md").read_text()  # type: ignore[operator]
    assert "guardian full pipeline" in text and "progress line" not in text
    assert "broker:" in text


def _run_benchmark(
    module: str, args: list[str], tmp_path: object, timeout_s: float = 180, **env: str
) -> tuple[dict[str, Any], str]:
    """Run ``python -m load_tests.<module> <args>``; its RESULT summary and stdout."""
    result_file = tmp_path / f"{module}.json"  # type: ignore[operator]
    environment = {
        **os.environ,
        **env,
        harness.RESULT_FILE_ENV: str(result_file),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [sys.executable, "-m", f"load_tests.{module}", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return orjson.loads(result_file.read_bytes()), proc.stdout


@pytest.mark.integration
def test_bench_pipeline_runs_end_to_end(kafka_bootstrap: str, tmp_path: object) -> None:
    summary, stdout = _run_benchmark(
        "bench_pipeline",
        ["--n", "200", "--repeats", "1", "--no-mix"],
        tmp_path,
        GUARDIAN_KAFKA__BOOTSTRAP_SERVERS=kafka_bootstrap,
    )
    structured = summary["workloads"]["structured"]
    # Every event came out of the full pipeline (at-least-once: never fewer).
    assert structured["guardian_outputs"][0] >= 200
    assert structured["passthrough_events_per_s"] > 0 and structured["guardian_events_per_s"] > 0
    assert structured["tuned_relay_events_per_s"] > 0
    assert "ratio" in stdout


def test_bench_memory_runs_with_its_window_size(tmp_path: object) -> None:
    summary, _ = _run_benchmark(
        "bench_memory",
        ["--events", "3000", "--models", "10", "--samples", "3", "--window-size", "100"],
        tmp_path,
    )
    windows = summary["sizes"]["fairness_window_entries"]
    # Ten models, windows of 100 events: every window filled to its configured bound.
    assert windows == {"size": 1000, "bound": 1000}
    assert all(s["size"] <= s["bound"] for s in summary["sizes"].values())
    assert summary["window_entry_bytes"] > 0


def test_bench_soak_summary_baseline_after_warm_up_and_second_half_growth() -> None:
    from load_tests.bench_soak import summarise

    samples = [
        {
            "t_s": t,
            "rss_mib": rss,
            "pss_mib": rss - 100,
            "main_rss_mib": rss - 180 - worker,
            "child_max_rss_mib": 180 + worker,
            "lag": 0.0,
            "consumed": t * 10,
        }
        for t, rss, worker in [
            (0, 300.0, 0.0),
            (25, 400.0, 0.0),
            (50, 410.0, 0.0),
            (75, 410.0, 1.0),
            (100, 410.0, 2.0),
        ]
    ]
    result = summarise(samples)
    assert result["baseline_rss_mib"] == 400.0  # the first sample after the first quarter
    assert result["max_rss_mib"] == 410.0
    assert result["second_half_growth_fit_mib"] == 0.0
    assert result["second_half_growth_last_minus_mid_mib"] == 0.0
    assert result["final_over_baseline"] == pytest.approx(410 / 400, abs=1e-3)
    # Per process: the worker grew 2 MiB over the second half, main shrank as much.
    assert result["second_half_worker_growth_fit_mib"] == 2.0
    assert result["second_half_main_growth_fit_mib"] == -2.0


@pytest.mark.integration
@pytest.mark.slow
def test_bench_soak_samples_guardians_whole_tree(kafka_bootstrap: str, tmp_path: object) -> None:
    summary, stdout = _run_benchmark(
        "bench_soak",
        ["--minutes", "0.25", "--sample-s", "3", "--rate", "50"],
        tmp_path,
        GUARDIAN_KAFKA__BOOTSTRAP_SERVERS=kafka_bootstrap,
    )
    samples = summary["samples"]
    assert len(samples) >= 2
    # Main process plus the redaction forkserver and its workers (shipped config).
    assert all(s["processes"] > 1 and s["rss_mib"] > 0 for s in samples)
    assert "final / baseline" in stdout


@dataclass(frozen=True)
class _Record:
    partition: int
    offset: int
    timestamp: int
    value: bytes | None


def _event(eid: str) -> bytes:
    return orjson.dumps({"schema_version": 1, "event_id": eid})


def test_bench_rolling_counts_lost_events_and_duplicate_alerts_from_the_topics() -> None:
    from load_tests import rolling_checks as checks

    inputs = [
        _Record(0, 0, 1_000, _event("a")),
        _Record(0, 1, 1_010, b"not json"),  # malformed: dead-lettered by offset
        _Record(1, 0, 1_020, _event("b")),  # redelivered twice
        _Record(1, 1, 1_030, _event("c")),  # nowhere: lost
    ]
    sanitized = [
        _Record(0, 0, 1_050, _event("a")),
        _Record(1, 0, 1_100, _event("b")),
        _Record(1, 1, 1_300, _event("b")),
    ]
    source = {"topic": "in", "partition": 0, "offset": 1}
    dlq = [
        _Record(0, 0, 1_060, orjson.dumps({"source": source})),
        _Record(0, 1, 1_070, orjson.dumps({"source": {**source, "topic": "elsewhere"}})),
    ]
    acc = checks.account(inputs, sanitized, dlq, "in")
    assert (acc.published, acc.sanitized, acc.dead_lettered) == (4, 2, 1)
    assert acc.lost == [(1, 1)] and acc.duplicated == 1
    # Latency from the first sanitized copy; only the window's inputs.
    assert checks.latencies_ms(inputs, acc.first_output_ms, 1_000, 1_030) == [50.0, 80.0]

    def change(event: str, fp: str, at: int) -> _Record:
        alert = {"fingerprint": fp, "alertname": "GuardianDriftDetected", "labels": {}}
        return _Record(0, at, at, orjson.dumps({"event": event, "alert": {**alert, "id": fp}}))

    fired = checks.firing(
        [change("firing", "x", 1), change("resolved", "x", 2), change("firing", "y", 3)]
        + [change("firing", "x", 4)]
    )
    duplicates = checks.duplicate_alerts(fired)
    assert list(duplicates) == ["x"] and [f.timestamp_ms for f in duplicates["x"]] == [1, 4]

    carried = checks.carried_over({"d1": 500, "d2": 500, "d3": 9}, {"d1": 510, "d2": 7})
    assert (carried.held, carried.carried, carried.missing) == (3, 1, ["d3"])
    assert carried.behind == {"d2": [500, 7]}


def test_bench_rolling_spreads_the_demo_models_over_every_partition() -> None:
    from aiokafka.partitioner import DefaultPartitioner

    from load_tests.bench_rolling import models_covering

    every = list(range(6))
    models = models_covering(6)
    assert models[:3] == ["credit-risk", "support-chat", "fraud-detect"]
    assert {DefaultPartitioner()(m.encode(), every, every) for m in models} == set(every)


@pytest.mark.integration
@pytest.mark.slow
def test_bench_rolling_quick_loses_nothing(kafka_bootstrap: str, tmp_path: object) -> None:
    summary, stdout = _run_benchmark(
        "bench_rolling",
        ["--quick"],
        tmp_path,
        timeout_s=600,
        GUARDIAN_KAFKA__BOOTSTRAP_SERVERS=kafka_bootstrap,
    )
    # Both replicas were restarted gracefully and came back with their detectors' state.
    assert [r["exit_code"] for r in summary["restarts"]] == [0, 0]
    assert summary["detectors_held"] > 0
    assert summary["detectors_carried"] == summary["detectors_held"]
    # Every published record came out, sanitized or dead-lettered.
    assert summary["published"] > 0 and summary["lost"] == 0
    assert summary["duplicate_alerts"] == 0
    assert "p99 during the roll / before it" in stdout
