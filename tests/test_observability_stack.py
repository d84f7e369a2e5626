"""Real Prometheus and Alertmanager around Guardian's metrics and alert engine.

Guardian here is its metrics registry served over HTTP plus its alert engine
(the pipeline is not needed to show the observability path): a drift detection
increments ``guardian_drift_detected_total`` and is ingested by the engine, as
the detect stage does. Prometheus, with the shipped rules, must fire
``GuardianDriftDetected``; Alertmanager must receive it from both Prometheus and
the engine, and the engine's resolution must reach it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server

from detectors.results import DriftResult
from service.alerting import AlertEngine, AlertRules
from service.alerting.sinks import AlertmanagerSink
from service.metrics import GuardianMetrics
from tests.promql import RULES_DIR
from tests.promstack import free_port, running_alertmanager, running_prometheus


async def wait_until(check: Callable[[], bool], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    for _ in range(int(within / 0.2) + 1):
        if check():
            return
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    raise AssertionError(f"condition not met in {within}s")


async def test_drift_alert_fires_in_prometheus_and_alertmanager(tmp_path: Path) -> None:
    metrics = GuardianMetrics(CollectorRegistry())
    drift_counter = metrics.drift_detected.labels("credit-risk", "age", "adwin")  # exists at 0
    metrics.events_processed.labels("credit-risk").inc(100)
    rules = AlertRules.model_validate(
        {"version": "stack-test", "rules": {"GuardianDriftDetected": {"resolve_after": "500ms"}}}
    )
    port = free_port()
    httpd, thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    try:
        with (
            running_alertmanager(tmp_path) as am,
            running_prometheus(
                tmp_path,
                targets=[f"127.0.0.1:{port}"],
                rule_files=sorted(RULES_DIR.glob("*.yml")),
                alertmanager=am,
            ) as prom,
        ):
            sink = AlertmanagerSink(am.url, metrics=metrics, retries=1, backoff_seconds=0.05)
            engine = AlertEngine(rules, metrics=metrics, sinks=[sink])
            await engine.start()
            try:
                prom.wait_for('guardian_drift_detected_total{model="credit-risk"}', timeout=30)
                await asyncio.sleep(1.2)  # one more scrape at 0, so the increase is visible

                now = time.time()
                drift_counter.inc()
                engine.ingest(
                    DriftResult("credit-risk", "3.2.0", "age", "adwin", "id", 0.3, now, 900),
                    now=now,
                )
                await engine.step(now)

                prom.wait_for('ALERTS{alertname="GuardianDriftDetected", alertstate="firing"}')
                firing = prom.query('guardian_alerts_firing{alertname="GuardianDriftDetected"}')
                assert [s["value"][1] for s in firing] == ["1"]
                assert firing[0]["metric"]["model"] == "credit-risk"

                def sources() -> set[str]:
                    return {
                        a["labels"].get("source", "")
                        for a in am.alerts()
                        if a["labels"]["alertname"] == "GuardianDriftDetected"
                    }

                await wait_until(lambda: sources() == {"guardian", "prometheus"})
                (from_prom,) = [a for a in am.alerts() if a["labels"]["source"] == "prometheus"]
                assert from_prom["labels"]["feature"] == "age"
                assert from_prom["annotations"]["runbook_url"].endswith("GuardianDriftDetected.md")

                await asyncio.sleep(0.6)
                assert [c.event for c in await engine.step(time.time())] == ["resolved"]
                await wait_until(lambda: sources() == {"prometheus"}, within=10)
                zero = prom.wait_for(
                    'guardian_alerts_firing{alertname="GuardianDriftDetected"} == 0', timeout=10
                )
                assert zero
            finally:
                await engine.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
