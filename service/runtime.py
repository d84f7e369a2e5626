"""Wiring: one Guardian process = metrics + pipeline worker + control plane in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn
from prometheus_client import CollectorRegistry, disable_created_metrics

from service.api.app import create_app
from service.kafka.topics import TopicSpec
from service.metrics import GuardianMetrics
from service.pipeline.stages import FixedRetentionStage, Stage, ValidateStage
from service.pipeline.worker import PipelineWorker
from service.settings import GuardianSettings

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: Guardian owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Guardian:
    """Everything one Guardian process runs."""

    def __init__(
        self, settings: GuardianSettings, registry: CollectorRegistry | None = None
    ) -> None:
        disable_created_metrics()
        self.settings = settings
        self.metrics = GuardianMetrics(registry, top_k=settings.limits.top_k_label_values)
        self.stages: list[Stage] = self.build_stages()
        self.worker = PipelineWorker(
            settings, self.metrics, self.stages, topic_specs=self.topic_specs()
        )
        self.app = create_app(self)

    def build_stages(self) -> list[Stage]:
        s = self.settings
        return [
            ValidateStage(s.limits),
            FixedRetentionStage(s.kafka.topics.sanitized_prefix),
        ]

    def topic_specs(self) -> list[TopicSpec]:
        t = self.settings.kafka.topics
        p, rf = t.partitions, t.replication_factor
        compact = {"cleanup.policy": "compact"}
        return [
            TopicSpec(f"{t.sanitized_prefix}standard", p, rf, {"retention.ms": str(30 * DAY_MS)}),
            TopicSpec(t.dlq, p, rf, {"retention.ms": str(7 * DAY_MS), "cleanup.policy": "delete"}),
            TopicSpec(t.alerts, 1, rf),
            TopicSpec(t.audit, 1, rf, {"retention.ms": "-1", "cleanup.policy": "delete"}),
            TopicSpec(t.config, 1, rf, compact),
            TopicSpec(t.state, p, rf, compact),
        ]

    async def start(self) -> None:
        await self.worker.start()

    async def close(self) -> None:
        await self.worker.close()


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
        await guardian.start()
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
