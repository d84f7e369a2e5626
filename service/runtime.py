"""One Guardian process at run time: the parts the composition root built, started and stopped.

:mod:`service.composition` builds every part in one pass and hands them to
:class:`Guardian`; this module only runs them (start-up order, background tasks,
shutdown). Nothing here builds a part or touches process-wide state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from aiokafka.errors import KafkaError

from service.allocator import trim_periodically
from service.backoff import Backoff, Retrying
from service.kafka.group_offsets import watch_group_offsets

if TYPE_CHECKING:
    from fastapi import FastAPI

    from detectors.fairness.monitor import FairnessMonitor
    from detectors.label_join import LabelJoin
    from detectors.performance.monitor import PerformanceMonitor
    from detectors.registry import DetectorRegistry
    from detectors.text.statistics import TextStatistics
    from service.alerting.engine import AlertEngine
    from service.api.dry_run import DryRuns
    from service.control.policies import LivePolicies
    from service.control.store import ConfigStore
    from service.fleet.membership import Membership
    from service.metrics import GuardianMetrics
    from service.pipeline.detect import DetectStage
    from service.pipeline.stages import RetainStage, Stage
    from service.pipeline.worker import PipelineWorker
    from service.redaction.redactor import Redactor
    from service.retention import RetentionPolicy
    from service.settings import GuardianSettings
    from service.state.checkpointer import Checkpointer

log = logging.getLogger(__name__)


class Guardian:
    """Everything one Guardian process runs: pipeline, detectors, alerts, control plane.

    Built by :func:`service.composition.build_guardian`; the stages run in
    ``worker`` in the order of ``stages``.
    """

    def __init__(
        self,
        *,
        settings: GuardianSettings,
        metrics: GuardianMetrics,
        redactor: Redactor,
        policies: LivePolicies,
        detectors: DetectorRegistry,
        fairness: FairnessMonitor,
        label_join: LabelJoin,
        performance: PerformanceMonitor,
        text: TextStatistics,
        alerts: AlertEngine,
        retain: RetainStage,
        detect: DetectStage,
        stages: Sequence[Stage],
        worker: PipelineWorker,
        checkpointer: Checkpointer | None,
        control: ConfigStore,
        dry_runs: DryRuns,
        app: FastAPI,
        fleet: Membership | None = None,
        after_start: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.redactor = redactor
        self.policies = policies
        self.detectors = detectors
        self.fairness = fairness
        self.label_join = label_join
        self.performance = performance
        self.text = text
        self.alerts = alerts
        self.retain = retain
        self.detect = detect
        self.stages = list(stages)
        self.worker = worker
        self.checkpointer = checkpointer
        self.control = control
        self.dry_runs = dry_runs
        self.fleet = fleet
        self.app = app
        self._after_start = after_start
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()

    @property
    def retention_policy(self) -> RetentionPolicy:
        return self.policies.retention

    async def start(self, stop: asyncio.Event | None = None) -> bool:
        """Build engines, connect to Kafka, adopt the shared config, start the background tasks.

        With ``stop`` given, an unreachable Kafka is retried with backoff (the control
        plane already answers: ``/healthz`` 200, ``/readyz`` 503) until it answers or
        ``stop`` is set; returns False in the latter case. Without it, the error is raised.
        """
        # The language model loads in a thread while the redaction workers build their
        # engines, and before the first event: loaded later, it competed with the first
        # batches for the interpreter, and texts before it got no language statistic.
        text_load = asyncio.create_task(asyncio.to_thread(self.text.load), name="text-load")
        await self.redactor.start()
        await text_load
        if not await self._connect(stop):
            return False
        await self.control.start()  # adopts the newest shared config before processing starts
        report_topic_mismatches(self.worker, self.metrics)
        if self.fleet is not None:
            await self.fleet.start()  # after the worker: it created the membership topic
        await self.alerts.start()
        interval = self.settings.alerting.tick_interval_seconds
        self._tasks = [
            asyncio.create_task(self.alerts.run(interval, self._stop), name="alerts"),
            asyncio.create_task(self._watch_health(), name="health"),
            asyncio.create_task(
                trim_periodically(self.settings.limits.malloc_trim_interval_s, self._stop),
                name="malloc-trim",
            ),
            # Lag and stalls from the broker's view, on clients of its own.
            asyncio.create_task(
                watch_group_offsets(self.settings.kafka, self.metrics.registry, self._stop),
                name="group-offsets",
            ),
        ]
        self._after_start()
        return True

    async def _connect(self, stop: asyncio.Event | None) -> bool:
        retry = Retrying(Backoff(1.0, 30.0))  # full jitter: replicas do not reconnect in step
        while True:
            try:
                await self.worker.start()
                return True
            except (KafkaError, OSError) as exc:
                await self.worker.close()
                if stop is None:
                    raise
                delay = retry.next()
                log.warning(
                    "Kafka at %s not reachable (%s); retrying in %.1f s",
                    self.settings.kafka.bootstrap_servers,
                    type(exc).__name__,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                if stop.is_set():
                    return False

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
        await self.dry_runs.close()
        await self.control.close()
        if self.fleet is not None:
            await self.fleet.close()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, timeout=3)
        await self.alerts.close()
        await self.worker.close()
        await self.redactor.close()


def report_topic_mismatches(worker: PipelineWorker, metrics: GuardianMetrics) -> None:
    """Export, per owned topic, whether its configs still differ from the policy."""
    wrong = {m.topic for m in worker.topic_mismatches}
    for spec in worker.topic_specs:
        if spec.configs:
            metrics.retention_mismatch.labels(spec.name).set(1 if spec.name in wrong else 0)


def _samples(metric: Any) -> list[Any]:
    return [
        s for family in metric.collect() for s in family.samples if not s.name.endswith("_created")
    ]


def _value(metric: Any) -> float:
    return float(sum(s.value for s in _samples(metric) if s.name.endswith("_total")))
