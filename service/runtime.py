"""Wiring: one Guardian process = metrics + pipeline worker + control plane in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, disable_created_metrics
from pydantic import ValidationError

from detectors.fairness.config import FairnessConfig
from detectors.fairness.monitor import FairnessMonitor
from detectors.label_join import LabelJoin
from detectors.performance.config import PerformanceConfig
from detectors.performance.monitor import PerformanceMonitor
from detectors.registry import DetectorRegistry
from detectors.specs import DetectorSpecs
from detectors.text.config import TextConfig
from detectors.text.statistics import TextStatistics
from service.alerting.engine import AlertEngine
from service.alerting.rules import load_rules
from service.alerting.sinks import build_sinks
from service.api.app import create_app
from service.control.live import store_for
from service.errors import ConfigError
from service.kafka.aiokafka_compat import UndecodableBatch
from service.kafka.topics import TopicSpec
from service.metrics import GuardianMetrics
from service.overrides import PolicyOverride, UnsafePolicy, UnsafeSetting, check_override
from service.pipeline.detect import DetectStage
from service.pipeline.stages import RedactStage, RetainStage, Stage, ValidateStage
from service.pipeline.worker import OutputRecord, PipelineWorker
from service.redaction.operators import MissingHmacKey
from service.redaction.policy import RedactionPolicy, RedactionPolicyError
from service.redaction.redactor import Redactor
from service.retention import RetentionPolicy, desired_topic_configs, dlq_retention_ms
from service.settings import GuardianSettings, resolve_config_path
from service.state.checkpointer import Checkpointer
from service.validation import describe_lines

T = TypeVar("T")

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: Guardian owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _load(what: str, path: Path, loader: Callable[[Path], T]) -> T:
    """Load one policy or config file; any problem becomes one ConfigError line."""
    resolved = resolve_config_path(path)
    try:
        return loader(resolved)
    except FileNotFoundError:
        raise ConfigError(f"{what}: file not found: {path}") from None
    except ValidationError as exc:
        raise ConfigError(f"{what} {path}: {'; '.join(describe_lines(exc))}") from None
    except ValueError as exc:
        raise ConfigError(f"{what} {path}: {exc}") from None


def _overridden(
    what: str, path: Path, unsafe: list[UnsafeSetting], override: PolicyOverride | None
) -> list[str]:
    """The fields a policy file overrides; one ConfigError line when it has no override."""
    try:
        return check_override(what, unsafe, override)
    except UnsafePolicy as exc:
        raise ConfigError(f"{what} policy {path}: {'; '.join(exc.problems)}") from None


class Guardian:
    """Everything one Guardian process runs: pipeline, detectors, alerts, control plane."""

    def __init__(
        self, settings: GuardianSettings, registry: CollectorRegistry | None = None
    ) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.settings = settings
        self.metrics = GuardianMetrics(registry, top_k=settings.limits.top_k_label_values)
        redaction_file = settings.redaction.policy_file
        redaction = _load("redaction policy", redaction_file, RedactionPolicy.from_yaml)
        try:
            self.redactor = Redactor(redaction, settings.redaction, self.metrics)
        except (MissingHmacKey, RedactionPolicyError) as exc:
            raise ConfigError(f"redaction policy {redaction_file}: {exc}") from None
        self.retention_policy = _load(
            "retention policy",
            settings.retention.policy_file,
            lambda p: RetentionPolicy.from_file(
                p, strict_unreachable=settings.retention.strict_unreachable
            ),
        )
        # Unsafe settings in the files need an override, as on the control plane.
        overrides = {
            "redaction": _overridden(
                "redaction", redaction_file, redaction.unsafe_settings(), redaction.override
            ),
            "retention": _overridden(
                "retention",
                settings.retention.policy_file,
                self.retention_policy.unsafe_settings(settings.retention.max_duration),
                self.retention_policy.override,
            ),
        }
        for rule in self.retention_policy.unreachable_rules():
            log.warning("retention policy: %s", rule)
        self.detectors = DetectorRegistry(
            _load("detector specs", settings.detectors.specs_file, DetectorSpecs.load), self.metrics
        )
        self.fairness = FairnessMonitor(
            _load("fairness config", settings.fairness.config_file, FairnessConfig.load),
            self.metrics,
        )
        self.performance = PerformanceMonitor(
            _load("performance config", settings.performance.config_file, PerformanceConfig.load),
            self.metrics,
        )
        self.text = TextStatistics(
            _load("text statistics config", settings.text.config_file, TextConfig.load)
        )
        self.label_join = LabelJoin(
            settings.detectors.label_join_max, settings.detectors.label_join_ttl_s, self.metrics
        )
        runbooks = settings.alerting.runbook_base_url
        self.alerts = AlertEngine(
            _load("alert rules", settings.alerting.rules_file, load_rules),
            self.metrics,
            config_version_provider=self.config_version,
            runbook_base_url=str(runbooks) if runbooks is not None else None,
        )
        for section, fields in overrides.items():
            if fields:
                log.warning(
                    "%s policy from the files accepted with an override of %s",
                    section,
                    ", ".join(fields),
                )
                self.metrics.policy_overrides.inc()
                self.alerts.policy_override(section, fields, "<files>")
        self.detect = DetectStage(
            self.detectors,
            self.fairness,
            self.label_join,
            self.alerts,
            self.performance,
            self.text,
        )
        self.retain = RetainStage(
            self.retention_policy, settings.kafka.topics.sanitized_prefix, self.metrics
        )
        self.stages: list[Stage] = [
            ValidateStage(settings.limits, settings.event_schema.unknown_fields, self.metrics),
            RedactStage(self.redactor, max_depth=settings.limits.max_depth),
            self.retain,
            self.detect,
        ]
        self.worker = PipelineWorker(
            settings,
            self.metrics,
            self.stages,
            topic_specs=self.topic_specs(),
            on_label=self.detect.on_label,
        )
        self.worker.on_undecodable.append(self._alert_undecodable)
        # Detector state follows the input partitions (off, with a warning, without a key).
        self.checkpointer = Checkpointer.from_settings(
            settings, self.worker, self.detectors, self.fairness, self.metrics
        )
        if self.checkpointer is not None:
            self.checkpointer.performance = self.performance
            self.checkpointer.text = self.text
            self.checkpointer.attach()
        # The alert sink writes to the pipeline's alerts topic (one name for both settings).
        alerting = settings.alerting.model_copy(update={"topic": settings.kafka.topics.alerts})
        not_pushed = {n.value for n in self.alerts.rules.rules} - (
            self.alerts.rules.pushed_to_alertmanager()
        )
        self.alerts.sinks = build_sinks(
            alerting, self.metrics, send=self._send_alert, not_pushed=not_pushed
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        # Control plane (issue 8): live config shared by every replica through guardian.config,
        # audit log on guardian.audit; the /v1 routers read and change it.
        self.control = store_for(self)
        self.app = create_app(self)

    def config_version(self) -> str:
        """What alerts are raised under: the shared config version and the policy versions."""
        control = getattr(self, "control", None)
        shared = f"config=v{control.current.version};" if control is not None else ""
        return (
            f"{shared}redaction={self.redactor.policy.version};"
            f"retention={self.retention_policy.version}"
        )

    def _alert_undecodable(self, batch: UndecodableBatch, action: str) -> None:
        self.alerts.input_undecodable(
            topic=batch.tp.topic,
            partition=batch.tp.partition,
            first_offset=batch.first,
            last_offset=batch.last,
            action=action,
            error=batch.error,
        )

    async def _send_alert(self, topic: str, key: bytes, value: bytes) -> None:
        # Written with the next batch, acknowledged before its offsets are committed.
        self.worker.enqueue(OutputRecord(topic, value, key))

    def topic_specs(self) -> list[TopicSpec]:
        t = self.settings.kafka.topics
        p, rf = t.partitions, t.replication_factor
        compact = {"cleanup.policy": "compact"}
        sanitized = [
            TopicSpec(name, p, rf, configs)
            for name, configs in desired_topic_configs(
                self.retention_policy, t.sanitized_prefix
            ).items()
        ]
        dlq_ms = str(dlq_retention_ms(self.retention_policy))
        return [
            *sanitized,
            TopicSpec(t.dlq, p, rf, {"retention.ms": dlq_ms, "cleanup.policy": "delete"}),
            TopicSpec(t.alerts, 1, rf),
            TopicSpec(t.audit, 1, rf, {"retention.ms": "-1", "cleanup.policy": "delete"}),
            TopicSpec(t.config, 1, rf, compact),
            TopicSpec(t.state, p, rf, compact),
        ]

    def report_topic_mismatches(self) -> None:
        """Export, per owned topic, whether its configs still differ from the policy."""
        wrong = {m.topic for m in self.worker.topic_mismatches}
        for spec in self.worker.topic_specs:
            if spec.configs:
                self.metrics.retention_mismatch.labels(spec.name).set(
                    1 if spec.name in wrong else 0
                )

    async def start(self, stop: asyncio.Event | None = None) -> bool:
        """Build engines, connect to Kafka, adopt the shared config, start the background tasks.

        With ``stop`` given, an unreachable Kafka is retried with backoff (the control
        plane already answers: ``/healthz`` 200, ``/readyz`` 503) until it answers or
        ``stop`` is set; returns False in the latter case. Without it, the error is raised.
        """
        await self.redactor.start()
        delay = 1.0
        while True:
            try:
                await self.worker.start()
                break
            except (KafkaError, OSError) as exc:
                await self.worker.close()
                if stop is None:
                    raise
                log.warning(
                    "Kafka at %s not reachable (%s); retrying in %.0f s",
                    self.settings.kafka.bootstrap_servers,
                    type(exc).__name__,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                if stop.is_set():
                    return False
                delay = min(delay * 2, 30.0)
        await self.control.start()  # adopts the newest shared config before processing starts
        self.report_topic_mismatches()
        await self.alerts.start()
        interval = self.settings.alerting.tick_interval_seconds
        self._tasks = [
            asyncio.create_task(self.alerts.run(interval, self._stop), name="alerts"),
            asyncio.create_task(self._watch_health(), name="health"),
            # The language model loads in a thread: readiness does not wait for it, and texts
            # before it is loaded get no language statistic.
            asyncio.create_task(asyncio.to_thread(self.text.load), name="text-load"),
        ]
        return True

    async def _watch_health(self) -> None:
        """Feed the alert engine the service's own health every few seconds."""
        m = self.metrics
        last_consumed = last_rejected = last_failures = 0.0
        while not self._stop.is_set():
            consumed = _value(m.events_consumed)
            rejected = sum(s.value for s in _samples(m.events_rejected))
            failures = _value(m.redaction_failures)
            delta = consumed - last_consumed
            lag = sum(s.value for s in _samples(m.consumer_lag))
            self.alerts.observe_health(
                dlq_rate=(rejected - last_rejected) / delta if delta > 0 else 0.0,
                lag=lag,
                redaction_failures=failures - last_failures,
                model_last_seen=dict(self.detect.last_seen),
            )
            last_consumed, last_rejected, last_failures = consumed, rejected, failures
            # Time-driven evaluations (labels joined after their events, windows draining when
            # traffic stops) declare and clear breaches too: they must reach the alert engine.
            for result in self.detect.tick():
                self.alerts.ingest(result)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=5)

    async def close(self) -> None:
        self._stop.set()
        await self.app.state.dry_runs.close()
        await self.control.close()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=3)
        await self.alerts.close()
        await self.worker.close()
        await self.redactor.close()


def _samples(metric: Any) -> list[Any]:
    return [
        s for family in metric.collect() for s in family.samples if not s.name.endswith("_created")
    ]


def _value(metric: Any) -> float:
    return float(sum(s.value for s in _samples(metric) if s.name.endswith("_total")))


async def serve(settings: GuardianSettings) -> int:
    """Run until SIGTERM/SIGINT; exit code 0 on a clean stop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    guardian = Guardian(settings)
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
    guardian = Guardian(settings)
    return (
        f"config OK: {len(guardian.stages)} stages "
        f"({', '.join(s.name for s in guardian.stages)}), "
        f"{len(guardian.topic_specs())} owned topics, brokers {settings.kafka.bootstrap_servers}"
    )
