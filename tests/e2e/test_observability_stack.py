"""Real Prometheus and Alertmanager around Guardian's metrics, with the shipped config.

Guardian here is its metrics registry served over HTTP, its fairness monitor and
its alert engine (the pipeline is not needed to show the alerting path).
Prometheus loads the shipped rules (their ``for`` shortened to a second: promtool
tests the timings), Alertmanager the shipped config with its receivers pointed
at a local capture server. What is checked is what on-call would see:

- a fairness breach the monitor declares reaches the model owners' receiver, as a
  warning with the runbook link built from the ``runbook_base_url`` external
  label; a model whose group has 3 events (Fairlearn ratio 0) raises nothing;
- drift arrives once, from the engine (no Prometheus copy);
- inhibition: Kafka unreachable on a replica mutes its job's silent-model and
  lag alerts (not another job's), and the redaction page mutes the warning;
- a stalled consumer pages: a real Guardian whose pipeline does not run, while
  input keeps arriving, raises GuardianConsumerStalled from the broker's view of
  its group (service/kafka/group_offsets.py), which clears once the pipeline runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server

from detectors.fairness.config import FairnessConfig
from detectors.fairness.monitor import FairnessMonitor
from detectors.results import DriftResult
from service.alerting import AlertEngine, AlertRules
from service.alerting.sinks import AlertmanagerSink
from service.metrics import GuardianMetrics
from tests.kafka_helpers import make_settings, produce
from tests.promql import PROJECT_ROOT, RULES_DIR
from tests.promstack import free_port, running_alertmanager, running_prometheus

RUNBOOKS = "https://git.internal/ml/guardian/-/blob/main/docs/runbooks"
AM_CONFIG = PROJECT_ROOT / "config" / "alertmanager" / "alertmanager.yml"


async def wait_until(check: Callable[[], bool], within: float = 40.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"not met in {within}s: {what}")


class _Capture(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any]]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@contextlib.contextmanager
def webhook_capture() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """A receiver for Alertmanager's webhooks: (base URL, [(path, body), ...])."""
    received: list[tuple[str, dict[str, Any]]] = []
    handler = type("Capture", (_Capture,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def shipped_alertmanager_config(capture_url: str) -> dict[str, Any]:
    """The shipped config, receivers pointed at the capture server, waits cut to a second."""
    config: dict[str, Any] = yaml.safe_load(AM_CONFIG.read_text(encoding="utf-8"))
    config["route"].update(group_wait="1s", group_interval="1s")
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = capture_url + "/" + hook["url"].rsplit("/", 1)[-1]
    return config


def fast_rules(workdir: Path) -> list[Path]:
    """The shipped rules with every ``for`` cut to one second."""
    workdir.mkdir(parents=True, exist_ok=True)
    copies = []
    for path in sorted(RULES_DIR.glob("*.yml")):
        text = re.sub(r"(?m)^(\s+for:) \S+$", r"\1 1s", path.read_text(encoding="utf-8"))
        copy = workdir / path.name
        copy.write_text(text, encoding="utf-8")
        copies.append(copy)
    return copies


@contextlib.contextmanager
def serving(registry: CollectorRegistry) -> Iterator[str]:
    port = free_port()
    httpd, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def fairness_monitor(metrics: GuardianMetrics) -> FairnessMonitor:
    config = FairnessConfig.from_mapping(
        {
            "models": [
                {
                    "model": "*",
                    "attributes": {"gender": ["f", "m"]},
                    "window": {"size": 1000},
                    "evaluate_every": {"events": 100_000},
                    "min_group_size": 30,
                    "breach_after": 2,
                    "metrics": {"demographic_parity_ratio": 0.8},
                }
            ]
        }
    )
    return FairnessMonitor(config, metrics)


def push(monitor: FairnessMonitor, model: str, rates: dict[str, float], per_group: int) -> None:
    for k in range(per_group):
        for group, rate in rates.items():
            selected = int((k % 10) < round(rate * 10))
            monitor.observe(model, "1", {"gender": group}, selected, ts=float(k))


def am_alerts(am_url: str, **params: str) -> list[dict[str, Any]]:
    response = httpx.get(am_url + "/api/v2/alerts", params=params, timeout=5)
    response.raise_for_status()
    return list(response.json())


async def test_fairness_from_the_monitor_reaches_model_owners_and_drift_only_from_the_engine(
    tmp_path: Path,
) -> None:
    metrics = GuardianMetrics(CollectorRegistry())
    metrics.kafka_up.set(1)  # a healthy replica: nothing else may page meanwhile
    monitor = fairness_monitor(metrics)
    push(monitor, "biased", {"f": 0.2, "m": 0.8}, per_group=200)
    push(monitor, "tiny", {"m": 0.8}, per_group=200)
    push(monitor, "tiny", {"f": 0.0}, per_group=3)  # Fairlearn ratio 0 on 3 events
    monitor.evaluate()
    monitor.evaluate()
    labels = {"attribute": "gender", "metric": "demographic_parity_ratio"}
    assert (
        metrics.registry.get_sample_value("guardian_fairness_value", {"model": "tiny", **labels})
        == 0.0
    )
    rules = AlertRules.model_validate({"version": "stack-test"})
    not_pushed = {n.value for n in rules.rules} - rules.pushed_to_alertmanager()

    with (
        webhook_capture() as (capture_url, received),
        serving(metrics.registry) as target,
        running_alertmanager(tmp_path, shipped_alertmanager_config(capture_url)) as am,
        running_prometheus(
            tmp_path,
            targets=[target],
            rule_files=fast_rules(tmp_path / "rules"),
            alertmanager=am,
            external_labels={"runbook_base_url": RUNBOOKS},
        ) as prom,
    ):
        sink = AlertmanagerSink(am.url, exclude=not_pushed, retries=0)
        engine = AlertEngine(rules, sinks=[sink], runbook_base_url=RUNBOOKS)
        await engine.start()
        try:
            # the engine declares the same breach (listed in /v1/alerts) but does not push it
            for result in monitor.evaluate():
                engine.ingest(result)
            now = time.time()
            engine.ingest(DriftResult("biased", "1", "age", "adwin", "id", 0.3, now, 900), now=now)
            await engine.step(now)

            def fairness_alerts() -> list[dict[str, Any]]:
                return [
                    a
                    for a in am_alerts(am.url)
                    if a["labels"]["alertname"] == "GuardianFairnessBreach"
                ]

            await wait_until(lambda: bool(fairness_alerts()), what="fairness alert in Alertmanager")

            def delivered_to(receiver: str) -> set[str]:
                return {
                    alert["labels"]["alertname"]
                    for path, body in list(received)
                    if path == receiver
                    for alert in body["alerts"]
                }

            await wait_until(
                lambda: "GuardianFairnessBreach" in delivered_to("/model-owners"),
                what="fairness webhook to the model owners",
            )
            (alert,) = fairness_alerts()
            assert alert["labels"]["model"] == "biased"
            assert alert["labels"]["severity"] == "warning"
            assert alert["labels"]["source"] == "prometheus"
            assert alert["annotations"]["runbook_url"] == f"{RUNBOOKS}/GuardianFairnessBreach.md"
            assert [a["labels"]["model"] for a in fairness_alerts()] == ["biased"]  # not tiny
            assert "GuardianFairnessBreach" not in delivered_to("/page")  # never paged
            assert "GuardianFairnessBreach" not in delivered_to("/alerts")

            drift = [
                a for a in am_alerts(am.url) if a["labels"]["alertname"] == "GuardianDriftDetected"
            ]
            assert [a["labels"]["source"] for a in drift] == ["guardian"]
            assert drift[0]["annotations"]["runbook_url"] == f"{RUNBOOKS}/GuardianDriftDetected.md"
            firing = prom.query('ALERTS{alertname="GuardianFairnessBreach", alertstate="firing"}')
            assert [s["metric"]["model"] for s in firing] == ["biased"]
        finally:
            await engine.close()


async def test_inhibition_on_a_real_alertmanager(tmp_path: Path) -> None:
    metrics = GuardianMetrics(CollectorRegistry())
    metrics.kafka_up.set(0)  # this replica cannot reach Kafka ...
    metrics.events_processed.labels("credit-risk").inc(500)  # ... so its model goes silent
    metrics.consumer_lag.labels("inference.events", "0").set(50_000)
    stop = asyncio.Event()

    async def traffic() -> None:
        # 2% of consumed messages fail redaction: the page and the warning both fire
        while not stop.is_set():
            metrics.events_consumed.inc(1000)
            metrics.redaction_failures.inc(20)
            await asyncio.sleep(0.25)

    with (
        webhook_capture() as (capture_url, _),
        serving(metrics.registry) as target,
        running_alertmanager(tmp_path, shipped_alertmanager_config(capture_url)) as am,
        running_prometheus(
            tmp_path,
            targets=[target],
            rule_files=fast_rules(tmp_path / "rules"),
            alertmanager=am,
        ),
    ):
        task = asyncio.create_task(traffic())
        try:
            # the same alert from another job: inhibition must not cross jobs
            now = time.time()
            other = {
                "alertname": "GuardianModelSilent",
                "job": "other-guardian",
                "model": "credit-risk",
                "severity": "warning",
                "source": "prometheus",
            }
            httpx.post(
                am.url + "/api/v2/alerts",
                json=[
                    {
                        "labels": other,
                        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 5)),
                        "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 600)),
                    }
                ],
                timeout=5,
            ).raise_for_status()

            def states() -> dict[tuple[str, str, str], dict[str, Any]]:
                return {
                    (
                        a["labels"]["alertname"],
                        a["labels"]["severity"],
                        a["labels"].get("job", ""),
                    ): a["status"]
                    for a in am_alerts(am.url, inhibited="true", silenced="true")
                }

            wanted = {
                ("GuardianKafkaUnreachable", "critical", "guardian"),
                ("GuardianModelSilent", "warning", "guardian"),
                ("GuardianConsumerLagHigh", "warning", "guardian"),
                ("GuardianRedactionFailures", "critical", "guardian"),
                ("GuardianRedactionFailures", "warning", "guardian"),
            }
            await wait_until(lambda: wanted <= states().keys(), within=60, what=str(wanted))
            await wait_until(
                lambda: (
                    states()[("GuardianModelSilent", "warning", "guardian")]["state"]
                    == "suppressed"
                ),
                what="silent model inhibited",
            )
            now_states = states()
            assert now_states[("GuardianKafkaUnreachable", "critical", "guardian")]["state"] == (
                "active"
            )
            for key in (
                ("GuardianModelSilent", "warning", "guardian"),
                ("GuardianConsumerLagHigh", "warning", "guardian"),
                ("GuardianRedactionFailures", "warning", "guardian"),
            ):
                assert now_states[key]["state"] == "suppressed", key
                assert now_states[key]["inhibitedBy"], key
            assert now_states[("GuardianRedactionFailures", "critical", "guardian")]["state"] == (
                "active"
            )
            assert now_states[("GuardianModelSilent", "warning", "other-guardian")]["state"] == (
                "active"
            )
        finally:
            stop.set()
            await task


@pytest.mark.integration
@pytest.mark.slow
async def test_a_stalled_consumer_pages_from_the_brokers_view(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    from service.composition import build_guardian

    settings = make_settings(kafka_bootstrap, kafka={"group_offsets_interval_s": 0.5})
    events = settings.kafka.topics.events
    guardian = build_guardian(settings)
    await guardian.start()  # connected and subscribed; its pipeline does not run: stalled
    stop_input, resume = asyncio.Event(), asyncio.Event()

    async def input_arrives() -> None:
        while not stop_input.is_set():
            await produce(kafka_bootstrap, events, [b"{}"] * 20, key=b"m")
            await asyncio.sleep(0.3)

    feeder = asyncio.create_task(input_arrives())
    pipeline: asyncio.Task[None] | None = None
    try:
        with (
            webhook_capture() as (capture_url, received),
            serving(guardian.metrics.registry) as target,
            running_alertmanager(tmp_path, shipped_alertmanager_config(capture_url)) as am,
            running_prometheus(
                tmp_path,
                targets=[target],
                rule_files=fast_rules(tmp_path / "rules"),
                alertmanager=am,
            ) as prom,
        ):

            def stalled() -> list[dict[str, Any]]:
                return [
                    a
                    for a in am_alerts(am.url)
                    if a["labels"]["alertname"] == "GuardianConsumerStalled"
                ]

            await wait_until(lambda: bool(stalled()), within=90, what="stall alert")
            (alert,) = stalled()
            assert alert["labels"]["topic"] == events
            assert alert["labels"]["severity"] == "critical"
            await wait_until(
                lambda: any(
                    a["labels"]["alertname"] == "GuardianConsumerStalled"
                    for path, body in list(received)
                    if path == "/page"
                    for a in body["alerts"]
                ),
                what="stall paged",
            )
            # The pipeline runs: commits resume and the rule stops firing.
            pipeline = asyncio.create_task(guardian.worker.run(resume))
            query = 'ALERTS{alertname="GuardianConsumerStalled", alertstate="firing"}'
            await wait_until(lambda: not prom.query(query), within=90, what="stall cleared")
    finally:
        stop_input.set()
        resume.set()
        await feeder
        if pipeline is not None:
            await asyncio.wait_for(pipeline, timeout=10)
        await guardian.close()
