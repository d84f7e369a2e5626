"""The Kafka clients of the pipeline, built in one place and passed in (tests pass fakes).

:class:`PipelineClients` is what the pipeline worker and its delivery unit ask
for clients: an admin client, the input consumer and the output producer (a
fresh one each call: a retired transactional producer is replaced).
:class:`AiokafkaClients` builds them with aiokafka from the settings.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any, Protocol

from aiokafka.errors import KafkaError

from service.kafka.clients import MemoPartitioner, common_options, output_codec
from service.settings import GuardianSettings

log = logging.getLogger(__name__)


class PipelineClients(Protocol):
    """Builds (not starts) the clients of one pipeline worker."""

    #: Picks output partitions; the batch writer asks it too, so both agree.
    partitioner: MemoPartitioner

    def admin(self) -> Any:
        """An admin client (topics, health)."""

    def input_consumer(self) -> Any:
        """The consumer of the input topics, in Guardian's group, committing by hand."""

    def output_producer(self) -> Any:
        """A new idempotent producer for every output (transactional with exactly-once)."""


def transactional_id(settings: GuardianSettings) -> str:
    """``<group>-<replica id>``: stable across restarts, so a restarted replica fences
    its crashed predecessor and aborts its open transaction.

    Without a replica id every process gets a unique id (host and pid): replicas then
    never fence each other by mistake, but a zombie is only fenced by the group.
    """
    replica = settings.replica_id or f"{socket.gethostname()}-{os.getpid()}"
    return f"{settings.kafka.group_id}-{replica}"


def max_request_size(settings: GuardianSettings) -> int:
    """The largest produce request: one message at the limit plus headroom for its headers."""
    return settings.limits.max_message_bytes + 65_536


class AiokafkaClients:
    """:class:`PipelineClients` with aiokafka, options from the settings."""

    def __init__(self, settings: GuardianSettings) -> None:
        self._settings = settings
        self._kafka = settings.kafka
        self._options = common_options(settings.kafka)
        self.partitioner = MemoPartitioner()

    def admin(self) -> Any:
        from aiokafka.admin import AIOKafkaAdminClient

        return AIOKafkaAdminClient(client_id=f"{self._kafka.client_id}-admin", **self._options)

    def input_consumer(self) -> Any:
        from aiokafka import AIOKafkaConsumer

        kafka = self._kafka
        return AIOKafkaConsumer(
            **self._options,
            client_id=kafka.client_id,
            group_id=kafka.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # Both delivery modes: records of aborted publisher transactions never reach
            # an output or a detector (an open transaction holds the partition back).
            isolation_level=kafka.isolation_level,
            max_partition_fetch_bytes=kafka.max_partition_fetch_bytes,
            session_timeout_ms=kafka.session_timeout_ms,
            heartbeat_interval_ms=kafka.heartbeat_interval_ms,
            # A stable replica id makes this a static member: a replica restarted after a
            # crash takes its own place at once instead of waiting for its old session to expire.
            group_instance_id=self._settings.replica_id,
        )

    def output_producer(self) -> Any:
        from aiokafka import AIOKafkaProducer

        kafka = self._kafka
        options: dict[str, Any] = {
            "client_id": kafka.client_id,
            "enable_idempotence": True,
            "acks": "all",
            "linger_ms": kafka.linger_ms,
            "compression_type": output_codec(kafka),
            "max_request_size": max_request_size(self._settings),
            "max_batch_size": kafka.max_batch_bytes,
            "partitioner": self.partitioner,
        }
        if kafka.delivery == "exactly_once":
            options["transactional_id"] = transactional_id(self._settings)
        return AIOKafkaProducer(**self._options, **options)


async def close_client(client: Any) -> None:
    """Stop a client, bounded; a failure is logged (closing goes on with the others)."""
    stop = getattr(client, "stop", None)
    try:
        if stop is None:  # the admin client closes, the others stop
            await asyncio.wait_for(client.close(), timeout=2)
        else:
            await asyncio.wait_for(stop(), timeout=4)
    except (KafkaError, TimeoutError, OSError) as exc:
        log.warning("closing %s: %s", type(client).__name__, exc or type(exc).__name__)
