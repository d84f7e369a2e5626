"""Issue 7, must show: a real Prometheus and Alertmanager around a real ``guardian run``.

A ``guardian run`` subprocess consumes a test topic and pushes its alerts to a
real Alertmanager; a real Prometheus scrapes its ``/metrics`` every second with
the shipped rules (``config/prometheus/rules``). Drift injected through Kafka
must show in Prometheus (``guardian_events_processed_total``, the drift
counter and ``guardian_alerts_firing`` from Guardian's engine; no shipped rule
raises drift: the engine is its one source), reach Alertmanager from Guardian,
and resolve there after the (shortened) ``resolve_after``. Then every
Grafana panel and variable query runs on that Prometheus, and every metric a
query names must be one the running Guardian exports (or a recording rule).

Skipped, with the reason, where the Debian ``prometheus`` or
``prometheus-alertmanager`` binaries are missing.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e_streams import NumericFeature, gaussian_events, wait_for
from tests.integration.test_dashboards import queries, runnable
from tests.kafka_helpers import (
    drain,
    make_settings,
    process_log,
    produce,
    start_guardian_process,
    wait_ready,
)
from tests.promql import SYNTHETIC, metric_names, recording_rule_names
from tests.promstack import (
    RULES_DIR,
    Alertmanager,
    Prometheus,
    require_binary,
    running_alertmanager,
    running_prometheus,
)

pytestmark = pytest.mark.integration

MODEL = "alerts-e2e"
FEATURES = (NumericFeature("age", 41.0, 12.0), NumericFeature("income", 52_000.0, 15_000.0))
RESOLVE_AFTER_S = 4.0
DRIFT = "GuardianDriftDetected"


def short_alert_rules(path: Path) -> Path:
    """Shipped rules with a drift alert that resolves after a few quiet seconds."""
    rules = {
        "version": "e2e-alerts",
        "rules": {DRIFT: {"for": "0s", "resolve_after": f"{RESOLVE_AFTER_S}s", "cooldown": "1h"}},
    }
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    return path


def exported_series_names(exposition: str) -> set[str]:
    """Series names a live ``/metrics`` page can carry (families without samples included)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created"),
    }
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names |= {family.name + s for s in suffixes.get(family.type, ("",))}
    return names


def guardian_alerts(am: Alertmanager) -> list[dict[str, Any]]:
    """Active drift alerts Alertmanager holds that Guardian's engine pushed."""
    return [
        a
        for a in am.alerts()
        if a["labels"].get("alertname") == DRIFT and a["labels"].get("source") == "guardian"
    ]


def value(result: list[dict[str, Any]]) -> list[str]:
    return [s["value"][1] for s in result]


@pytest.fixture
def guardian_process(
    kafka_bootstrap: str, tmp_path: Path
) -> Iterator[tuple[Any, subprocess.Popen[bytes], Alertmanager]]:
    require_binary("prometheus")
    with running_alertmanager(tmp_path) as am:
        settings = make_settings(kafka_bootstrap)
        proc = start_guardian_process(
            settings,
            GUARDIAN_ALERTING__ALERTMANAGER_URL=am.url,
            GUARDIAN_ALERTING__RULES_FILE=str(short_alert_rules(tmp_path / "alerts.yaml")),
            GUARDIAN_REDACTION__WORKERS="0",
        )
        try:
            yield settings, proc, am
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


async def test_drift_alert_fires_in_prometheus_and_alertmanager_then_resolves(
    kafka_bootstrap: str, tmp_path: Path, guardian_process: Any
) -> None:
    settings, proc, am = guardian_process
    port = settings.http.port
    with running_prometheus(  # starts while Guardian does; scrapes fail until it listens
        tmp_path,
        targets=[f"127.0.0.1:{port}"],
        rule_files=sorted(RULES_DIR.glob("*.yml")),
        alertmanager=am,
    ) as prom:
        try:
            await wait_ready(port)
            await _drift_fires_and_resolves(prom, am, kafka_bootstrap, settings)
            async with httpx.AsyncClient() as client:
                exposition = (await client.get(f"http://127.0.0.1:{port}/metrics", timeout=5)).text
            _every_dashboard_query_runs(prom, exposition)
            _promtool_check_metrics(exposition)
        except AssertionError:
            print(process_log(proc)[-4000:])  # shown by pytest on failure
            raise
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0


async def _drift_fires_and_resolves(
    prom: Prometheus, am: Alertmanager, bootstrap: str, settings: Any
) -> None:
    rng = np.random.default_rng(7)
    topic, key = settings.kafka.topics.events, MODEL.encode()
    # stationary traffic first: Prometheus must see the drift counter at 0 before it moves,
    # or increase() has no earlier sample to compare with
    # (3,000: the default rank_window first fills its 2,200-value buffer and tests a while)
    await produce(bootstrap, topic, gaussian_events(MODEL, FEATURES, 3000, rng), key=key)
    processed = f'guardian_events_processed_total{{model="{MODEL}"}}'
    prom.wait_for(f"{processed} == 3000", timeout=20)
    counter = f'guardian_drift_detected_total{{model="{MODEL}",feature="income"}}'
    assert value(prom.wait_for(counter, timeout=5)) == ["0"]
    await asyncio.sleep(1.5)  # one more scrape at 0

    shifted = gaussian_events(MODEL, FEATURES, 1000, rng, shift={"income": 1.0})
    await produce(bootstrap, topic, shifted, key=key)
    prom.wait_for(f"{processed} == 4000", timeout=20)
    assert value(prom.wait_for(f"{counter} == 1", timeout=10)) == ["1"]
    assert (
        prom.query(f'guardian_drift_detected_total{{model="{MODEL}",feature!="income"}} > 0') == []
    )

    # Guardian's engine raises the drift alert and reports it through its gauge; drift has
    # one source (the engine), so no shipped Prometheus rule raises a second copy
    firing_gauge = f'guardian_alerts_firing{{alertname="{DRIFT}",model="{MODEL}"}}'
    assert value(prom.wait_for(f"{firing_gauge} == 1", timeout=RESOLVE_AFTER_S)) == ["1"]

    # Alertmanager received Guardian's alert (pushed by the engine, not by Prometheus)
    await wait_for(lambda: bool(guardian_alerts(am)), within=RESOLVE_AFTER_S, what="alert in AM")
    (pushed,) = guardian_alerts(am)
    labels = pushed["labels"]
    assert (labels["model"], labels["feature"], labels["detector"]) == (
        MODEL,
        "income",
        "rank_window",
    )
    assert labels["severity"] == "warning"
    assert pushed["annotations"]["runbook_url"].endswith(f"{DRIFT}.md")

    # no new detection for resolve_after: the engine resolves and tells Alertmanager
    await wait_for(lambda: not guardian_alerts(am), within=RESOLVE_AFTER_S + 10, what="resolved")
    assert value(prom.wait_for(f"{firing_gauge} == 0", timeout=10)) == ["0"]
    assert prom.query(f'ALERTS{{alertname="{DRIFT}"}}') == []  # never raised by a rule

    # and guardian.alerts holds both state changes (written with the pipeline's batches)
    written = await drain(bootstrap, settings.kafka.topics.alerts, expect=2, timeout_s=10)
    changes = [orjson.loads(m.value) for m in written]
    assert [(c["event"], c["alert"]["labels"]["feature"]) for c in changes] == [
        ("firing", "income"),
        ("resolved", "income"),
    ]


def _promtool_check_metrics(exposition: str) -> None:
    """The live /metrics of a Guardian that processed traffic passes Prometheus' linter."""
    promtool = shutil.which("promtool")
    if promtool is None:
        return  # the registry-level check in test_metrics_hygiene.py skips with the reason
    done = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _every_dashboard_query_runs(prom: Prometheus, exposition: str) -> None:
    exported = exported_series_names(exposition)
    known = exported | recording_rule_names() | SYNTHETIC
    found = queries()
    assert len(found) > 30
    failures = []
    with_data = 0
    for dashboard, title, expr in found:
        answer = prom.check_query(runnable(expr))
        if answer.get("status") != "success":
            failures.append((dashboard, title, answer.get("error")))
            continue
        with_data += bool(answer["data"]["result"])
        unknown = metric_names(expr) - known
        if unknown:
            failures.append((dashboard, title, f"not exported by Guardian: {sorted(unknown)}"))
    assert failures == []
    # the live Guardian had traffic and a drift: most panels show data, not just "no error"
    assert with_data >= len(found) // 2, (with_data, len(found))
