"""Run the whole benchmark suite and write ``load_tests/report.md`` and ``report.json``.

    python -m load_tests [--quick] [--only NAME ...]

Each benchmark runs in a process of its own (a clean interpreter: no warm
caches or leftover threads from the previous one), with its figures streamed
to the terminal as they come. A benchmark that fails is recorded as failed
and the suite goes on. ``GUARDIAN_KAFKA__BOOTSTRAP_SERVERS`` points the Kafka
benchmarks at another Kafka; otherwise each starts a fresh local noida-db.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from load_tests import harness

HERE = Path(__file__).resolve().parent

#: (module, what it measures); the order runs the cheap in-process ones first.
BENCHMARKS: tuple[tuple[str, str], ...] = (
    ("bench_pipeline", "full pipeline vs raw aiokafka passthrough (events/s)"),
    ("bench_latency", "publish -> sanitized latency at fixed rates, saturation point"),
    ("bench_memory", "RSS over 1M events across 1,000 models x 10 features"),
    ("bench_scaling", "1 vs 2 replicas; cost vs features per event and vs models"),
    ("bench_delivery", "at-least-once vs exactly-once (Kafka transactions) throughput"),
    ("bench_redaction", "redaction vs plain Presidio analyze+anonymize (texts/s)"),
    ("eval_secrets", "credential recall vs plain Presidio; 100 kB adversarial strings (ms)"),
    ("bench_detectors", "detector update cost vs raw River (ns/update)"),
    ("eval_drift", "drift detection delay and false alarms"),
    ("eval_fairness", "fairness metrics vs Fairlearn"),
    ("eval_performance", "CBPE estimates vs realized and vs NannyML, with covariate shift"),
    ("eval_leak_recall", "leak-corpus recall vs plain Presidio with the same NER pipeline"),
    ("bench_restart", "time to ready after kill -9, static vs dynamic membership"),
    ("bench_soak", "RSS of the process tree and lag over 15 min through Kafka"),
    ("bench_rolling", "rolling restart of 3 replicas under load: loss, duplicate alerts, p99"),
)


def run_one(module: str, quick: bool, timeout_s: float) -> dict[str, Any]:
    """Run ``python -m load_tests.<module>`` and collect its output and JSON summary."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        result_file = Path(tmp.name)
    env = {
        **os.environ,
        harness.RESULT_FILE_ENV: str(result_file),
        "PYTHONPATH": str(harness.ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", f"load_tests.{module}", *(["--quick"] if quick else [])]
    started = time.monotonic()
    lines: list[str] = []
    status = "ok"
    proc = subprocess.Popen(
        command,
        cwd=harness.ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if not line.startswith("RESULT "):
                print(f"  {module}: {line}", end="", flush=True)
            if time.monotonic() - started > timeout_s:
                proc.kill()
                status = f"timed out after {timeout_s:.0f}s"
                break
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    if status == "ok" and code != 0:
        status = f"failed (exit {code})"
    summary: dict[str, Any] | None = None
    if result_file.exists() and result_file.stat().st_size:
        summary = orjson.loads(result_file.read_bytes())
    result_file.unlink(missing_ok=True)
    return {
        "module": module,
        "command": " ".join(["python", "-m", f"load_tests.{module}", *command[3:]]),
        "status": status,
        "seconds": round(time.monotonic() - started, 1),
        "summary": summary,
        "output": [line for line in lines if not line.startswith("RESULT ")],
    }


def write_reports(
    results: list[dict[str, Any]], machine: dict[str, Any], quick: bool, out_dir: Path = HERE
) -> None:
    """Write ``report.json`` (everything) and ``report.md`` (for people) into ``out_dir``."""
    report = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mode": "quick" if quick else "full",
        "machine": machine,
        "benchmarks": results,
    }
    (out_dir / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    lines = [
        "# Inference Guardian — benchmark report",
        "",
        f"Generated {report['generated_at']} by `python -m load_tests{' --quick' if quick else ''}`"
        " (every figure is a median of repeated runs; each benchmark prints its baseline, "
        "measured in the same run, and the ratio).",
        "",
        "## Machine",
        "",
        f"- cores: {machine['cores']}, Python {machine['python']} ({machine['platform']})",
        f"- load average at start: {machine['load_average_at_start']} (the machine is shared)",
        f"- broker: {machine['broker']}",
        "- libraries: " + ", ".join(f"{k} {v}" for k, v in sorted(machine["libraries"].items())),
        "",
        "## Summary",
        "",
        "| benchmark | status | seconds | command |",
        "| --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(f"| {r['module']} | {r['status']} | {r['seconds']} | `{r['command']}` |")
    profile = HERE / "PROFILE.md"
    if profile.exists():
        lines += [
            "",
            "## Profile and fixes",
            "",
            "See [PROFILE.md](PROFILE.md) (before/after figures).",
        ]
    for r in results:
        lines += ["", f"## {r['module']}", "", f"`{r['command']}` — {r['status']}", "", "```"]
        shown = [line for line in r["output"] if not line.startswith("  .. ")]
        lines += _collapse_repeats(shown) or ["(no output)"]
        lines += ["```"]
    (out_dir / "report.md").write_text("\n".join(lines) + "\n")


def _collapse_repeats(lines: list[str]) -> list[str]:
    """Each line that repeats (a warning from every replica a benchmark starts) shown once.

    >>> _collapse_repeats(["a", "w", "b", "w", "w"])
    ['a', 'w', 'b', '(the line "w" appeared 3 times)']
    """
    counts = Counter(lines)
    out: list[str] = []
    shown: set[str] = set()
    for line in lines:
        if line not in shown:
            out.append(line)
            shown.add(line)
        elif counts[line]:
            out.append(f'(the line "{line}" appeared {counts[line]} times)')
            counts[line] = 0
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m load_tests", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="small runs of every benchmark")
    parser.add_argument(
        "--only", nargs="+", choices=[m for m, _ in BENCHMARKS], help="run only these"
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per benchmark")
    parser.add_argument("--out-dir", type=Path, default=HERE, help="where the reports go")
    args = parser.parse_args(argv)
    selected = [(m, what) for m, what in BENCHMARKS if not args.only or m in args.only]
    machine = harness.machine()
    print(
        f"Guardian benchmark suite ({'quick' if args.quick else 'full'}): {len(selected)} "
        f"benchmarks, {machine['cores']} cores, Python {machine['python']}, {machine['broker']}",
        flush=True,
    )
    results = []
    for i, (module, what) in enumerate(selected, 1):
        print(f"[{i}/{len(selected)}] {module}: {what}", flush=True)
        result = run_one(module, args.quick, args.timeout)
        results.append(result)
        print(
            f"[{i}/{len(selected)}] {module}: {result['status']} in {result['seconds']} s",
            flush=True,
        )
        write_reports(results, machine, args.quick, args.out_dir)
    print(f"wrote {args.out_dir / 'report.md'} and {args.out_dir / 'report.json'}")
    return 0 if all(r["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
