"""The composition root: one Guardian process built from settings in one pass.

Every part is built here, in dependency order, and handed to the parts that
use it; no part builds another or reaches into one. The process-wide side
effects live here too (:func:`configure_process`, :func:`tune_gc`), so that
importing any module of Guardian changes nothing. ``guardian run`` (the CLI)
and the tests' Guardian factory both go through :func:`build_guardian`.

Two links are made after both ends exist, because the parts form a cycle
(the detect stage feeds the alert engine, whose topic sink writes through the
pipeline, which runs the detect stage): the alert sink's
:class:`~service.alerting.outbox.AlertOutbox` is connected to the pipeline's
queue, and the retain stage and the owned topics subscribe to retention
changes (:meth:`~service.control.policies.LivePolicies.on_retention`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import Callable, Iterator
from functools import partial

import uvicorn
from prometheus_client import CollectorRegistry, disable_created_metrics

from detectors.fairness.monitor import FairnessMonitor
from detectors.label_join import LabelJoin
from detectors.performance.monitor import PerformanceMonitor
from detectors.registry import DetectorRegistry
from detectors.text.statistics import TextStatistics
from service.alerting.engine import AlertEngine
from service.alerting.outbox import AlertOutbox
from service.alerting.rules import AlertRules
from service.alerting.sinks import build_sinks
from service.api.app import create_app
from service.api.backtester import KafkaBacktester
from service.api.dry_run import DryRuns
from service.api.ports import ApiPorts
from service.config_files import load_files, owned_topics
from service.control.live import LiveParts, store_for
from service.control.policies import LivePolicies, RetentionListener
from service.errors import ConfigError
from service.fleet.membership import Membership
from service.kafka.aiokafka_compat import UndecodableBatch
from service.metrics import GuardianMetrics
from service.pipeline.detect import DetectStage
from service.pipeline.repartition import Repartition
from service.pipeline.stages import RedactStage, RetainStage, Stage, ValidateStage
from service.pipeline.worker import OutputRecord, PipelineWorker
from service.redaction.operators import MissingHmacKey
from service.redaction.policy import RedactionPolicy, RedactionPolicyError
from service.redaction.redactor import Redactor
from service.retention import RetentionPolicy
from service.runtime import Guardian, report_topic_mismatches
from service.settings import GuardianSettings
from service.state.checkpointer import Checkpointer

log = logging.getLogger(__name__)

#: CPython's default (700, 10, 10) runs the cyclic GC every 700 allocations; the hot path
#: allocates several objects per event, so a batch triggered dozens of collections that each
#: rescanned the long-lived heap (engines, detectors, the label-join buffer): about 40% of
#: the batch CPU time (load_tests/PROFILE.md). Event data is freed by reference counting.
_GC_THRESHOLDS = (50_000, 50, 100)


def configure_process() -> None:
    """Process-wide settings every Guardian process needs before any part is built."""
    # Presidio's e-mail recognizer asks tldextract, which downloads a public-suffix list
    # unless this is empty; helper processes inherit it.
    os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""
    # No ``*_created`` series: they double what every counter and histogram exports.
    disable_created_metrics()  # type: ignore[no-untyped-call]


def tune_gc() -> None:
    """Freeze what start-up built (never garbage) and collect young objects less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLDS)


# -- parts -------------------------------------------------------------------------------------


def _redactor(
    policy: RedactionPolicy, settings: GuardianSettings, metrics: GuardianMetrics
) -> Redactor:
    try:
        return Redactor(policy, settings.redaction, metrics)
    except (MissingHmacKey, RedactionPolicyError) as exc:
        raise ConfigError(f"redaction policy {settings.redaction.policy_file}: {exc}") from None


def _alert_engine(
    settings: GuardianSettings,
    rules: AlertRules,
    metrics: GuardianMetrics,
    outbox: AlertOutbox,
    config_version: Callable[[], str],
) -> AlertEngine:
    not_pushed = {n.value for n in rules.rules} - rules.pushed_to_alertmanager()
    runbooks = settings.alerting.runbook_base_url
    return AlertEngine(
        rules,
        metrics,
        build_sinks(
            settings.alerting,
            metrics,
            send=outbox.send,
            topic=settings.kafka.topics.alerts,
            not_pushed=not_pushed,
        ),
        config_version_provider=config_version,
        runbook_base_url=str(runbooks) if runbooks is not None else None,
    )


def _report_file_overrides(
    overrides: dict[str, list[str]], metrics: GuardianMetrics, alerts: AlertEngine
) -> None:
    for section, fields in overrides.items():
        if fields:
            log.warning(
                "%s policy from the files accepted with an override of %s",
                section,
                ", ".join(fields),
            )
            metrics.policy_overrides.inc()
            alerts.policy_override(section, fields, "<files>")


def _alert_undecodable(alerts: AlertEngine, batch: UndecodableBatch, action: str) -> None:
    alerts.input_undecodable(
        topic=batch.tp.topic,
        partition=batch.tp.partition,
        first_offset=batch.first,
        last_offset=batch.last,
        action=action,
        error=batch.error,
    )


def _follow_retention(
    settings: GuardianSettings,
    metrics: GuardianMetrics,
    retain: RetainStage,
    worker: PipelineWorker,
) -> RetentionListener:
    async def follow(policy: RetentionPolicy) -> None:
        retain.policy = policy
        worker.topic_specs = owned_topics(settings, policy)
        if worker.status.get("started"):
            # New classes get their sanitized topics; changed durations correct retention.ms.
            await worker.ensure_topics()
            report_topic_mismatches(worker, metrics)

    return follow


def build_guardian(
    settings: GuardianSettings, registry: CollectorRegistry | None = None
) -> Guardian:
    """Build every part of one Guardian process; nothing connects or starts yet.

    Raises :class:`~service.errors.ConfigError` (one line) when a file the
    settings name is missing or does not validate.
    """
    configure_process()
    metrics = GuardianMetrics(registry, top_k=settings.limits.top_k_label_values)
    files = load_files(settings)
    topics = settings.kafka.topics
    redactor = _redactor(files.redaction, settings, metrics)
    policies = LivePolicies(
        redactor, files.retention, settings.redaction, settings.retention, topics.sanitized_prefix
    )
    detectors = DetectorRegistry(files.specs, metrics)
    fairness = FairnessMonitor(files.fairness, metrics)
    performance = PerformanceMonitor(files.performance, metrics)
    text = TextStatistics(files.text)
    label_join = LabelJoin(
        settings.detectors.label_join_max, settings.detectors.label_join_ttl_s, metrics
    )
    # Live config shared by every replica through guardian.config, audit log on guardian.audit.
    control = store_for(settings, LiveParts(policies, detectors, fairness, performance), metrics)

    def config_version() -> str:
        """What alerts are raised under: the shared config version and the policy versions."""
        return f"config=v{control.current.version};{policies.versions()}"

    outbox = AlertOutbox()
    alerts = _alert_engine(settings, files.rules, metrics, outbox, config_version)
    _report_file_overrides(files.overrides, metrics, alerts)
    detect = DetectStage(detectors, fairness, label_join, alerts, performance, text)
    retain = RetainStage(policies.retention, topics.sanitized_prefix, metrics)
    # Detector state follows the input partitions (off, with a warning, without a key); the
    # checkpointer is the last stage, so it sees every event the others have processed.
    checkpointer = Checkpointer.from_settings(settings, detectors, fairness, metrics)
    if checkpointer is not None:
        checkpointer.performance = performance
        checkpointer.text = text
        checkpointer.alerts = alerts
    stages: list[Stage] = [
        ValidateStage(settings.limits, settings.event_schema.unknown_fields, metrics),
        RedactStage(redactor, max_depth=settings.limits.max_depth),
        retain,
        detect,
        *([checkpointer] if checkpointer is not None else []),
    ]
    # Issue 19: the detect stage (and the checkpointer) read the repartition topic, keyed by
    # model with Guardian's partitioner, so each model has one owner whatever the publishers' keys.
    repartition = (
        None
        if settings.kafka.repartition == "off"
        else Repartition(topics.repartition, detect_from=stages.index(detect))
    )
    worker = PipelineWorker(
        settings,
        metrics,
        stages,
        topic_specs=owned_topics(settings, policies.retention),
        on_label=detect.on_label,
        repartition=repartition,
    )
    # Alerts are written with the next batch, acknowledged before its offsets are committed.
    outbox.connect(lambda topic, key, value: worker.enqueue(OutputRecord(topic, value, key)))
    worker.on_undecodable.append(partial(_alert_undecodable, alerts))
    policies.on_retention(_follow_retention(settings, metrics, retain, worker))
    if checkpointer is not None:
        checkpointer.attach(worker)
    dry_runs = DryRuns.from_settings(settings)
    # Heartbeats on the membership topic: any replica answers for the group (issue 19).
    fleet = Membership(
        settings,
        control.codec.signer,
        detectors,
        partitions=lambda: worker.status["assigned_partitions"],
        config_version=lambda: control.current.version,
    )
    ports = ApiPorts(
        detectors=detectors,
        models=detect,
        policies=policies,
        store=control,
        alerts=alerts,
        readiness=worker,
        dry_runs=dry_runs,
        count_override=metrics.policy_overrides.inc,
        backtests=KafkaBacktester(settings.kafka, detectors, policies),
        performance=performance,
        fleet=fleet,
    )
    return Guardian(
        settings=settings,
        metrics=metrics,
        redactor=redactor,
        policies=policies,
        detectors=detectors,
        fairness=fairness,
        performance=performance,
        text=text,
        label_join=label_join,
        alerts=alerts,
        retain=retain,
        detect=detect,
        stages=stages,
        worker=worker,
        checkpointer=checkpointer,
        control=control,
        fleet=fleet,
        dry_runs=dry_runs,
        app=create_app(settings, ports, metrics),
        after_start=tune_gc,
    )


# -- entry points ------------------------------------------------------------------------------


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: Guardian owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(settings: GuardianSettings) -> int:
    """Run until SIGTERM/SIGINT; exit code 0 on a clean stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    guardian = build_guardian(settings)
    server = _EmbeddedServer(
        uvicorn.Config(
            guardian.app,
            host=settings.http.host,
            port=settings.http.port,
            log_config=None,
            access_log=False,
            lifespan="off",
        )
    )
    http = asyncio.create_task(server.serve(), name="http")
    try:
        if not await guardian.start(stop):
            log.info("stopped before Kafka answered")
            return 0
        log.info(
            "Guardian consuming %s from %s; control plane on http://%s:%d",
            settings.kafka.topics.events,
            settings.kafka.bootstrap_servers,
            settings.http.host,
            settings.http.port,
        )
        await guardian.worker.run(stop)
    finally:
        server.should_exit = True
        await guardian.close()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(http, timeout=3)
    log.info("Guardian stopped")
    return 0


def check_config(settings: GuardianSettings) -> str:
    """Validate settings and every policy they point at, without connecting to Kafka."""
    guardian = build_guardian(settings)
    return (
        f"config OK: {len(guardian.stages)} stages "
        f"({', '.join(s.name for s in guardian.stages)}), "
        f"{len(guardian.worker.topic_specs)} owned topics, "
        f"brokers {settings.kafka.bootstrap_servers}"
    )
