"""This replica's side of the fleet view: heartbeats out, everyone's heartbeats in.

Kafka is the only shared store: :class:`Membership` writes this replica's
:class:`~service.fleet.records.Heartbeat` to the compacted membership topic
every ``fleet.heartbeat_interval_s`` (and at once when its partitions, config
version or detectors' params change), and reads the topic from the beginning
with a consumer of its own (no group, like the config store), so every replica
knows every other's partitions and detectors within about one interval.

Resets of a detector held elsewhere travel the same way: the replica asked
writes a :class:`~service.fleet.records.ResetRequest`; the holder resets it
when it reads the request, writes a tombstone for it and publishes a fresh
heartbeat. Requests already on the topic when a replica starts are not
executed (they were addressed to a process that is gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from detectors.registry import DetectorInfo, UnknownDetectorError
from service.backoff import Backoff, Retrying
from service.fleet.records import (
    REPLICA_PREFIX,
    RESET_PREFIX,
    DetectorSummary,
    FleetView,
    Heartbeat,
    Member,
    Refused,
    ResetRequest,
    decode,
    encode,
)
from service.kafka.clients import common_options, follow_quietly
from service.settings import GuardianSettings
from service.signing import RecordSigner

log = logging.getLogger(__name__)


class HeldDetectors(Protocol):
    """This replica's detectors (:class:`detectors.registry.DetectorRegistry`)."""

    def list_detectors(self) -> list[DetectorInfo]: ...

    def reset(self, detector_id: str) -> DetectorInfo: ...


def default_replica_id(settings: GuardianSettings) -> str:
    """The configured replica id, else one unique to this process (host and pid)."""
    return settings.replica_id or f"{socket.gethostname()}-{os.getpid()}"


class Membership:
    """Publish this replica's heartbeat; follow everyone's (see the module docstring).

    ``partitions`` and ``config_version`` are read when a heartbeat is written.
    """

    def __init__(
        self,
        settings: GuardianSettings,
        signer: RecordSigner,
        detectors: HeldDetectors,
        partitions: Any,
        config_version: Any,
        *,
        poll_ms: int = 200,
    ) -> None:
        self._kafka = settings.kafka
        self._fleet = settings.fleet
        self._signer = signer
        self._detectors = detectors
        self._partitions = partitions
        self._config_version = config_version
        self._poll_ms = poll_ms
        self.replica_id = default_replica_id(settings)
        self.view = FleetView(
            self.replica_id,
            stale_after_s=settings.fleet.stale_after_s,
            forget_after_s=settings.fleet.forget_after_s,
        )
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._published: tuple[Any, ...] | None = None
        self._last_beat = self._last_shape_check = 0.0
        self.refused = 0

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Read the topic to its end (requests found there are not executed), then follow it."""
        options = common_options(self._kafka)
        client_id = f"{self._kafka.client_id}-membership"
        # gzip: a heartbeat lists up to fleet.max_detectors_listed summaries of repetitive JSON.
        self._producer = AIOKafkaProducer(
            **options, client_id=client_id, acks="all", compression_type="gzip"
        )
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            **options,
            client_id=client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await self._consumer.start()
        # It follows a quiet topic for the process's life: on the local broker, without the
        # wait its fetcher would loop on empty answers (half a core on an idle replica).
        follow_quietly(self._consumer, self._kafka)
        await self._consumer.topics()
        topic = self._kafka.topics.membership
        tps = [
            TopicPartition(topic, p)
            for p in sorted(self._consumer.partitions_for_topic(topic) or {0})
        ]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        await self._catch_up(tps, timeout_s=10.0)
        await self._beat()
        self._task = asyncio.create_task(self._run(), name="membership")

    async def close(self) -> None:
        """Stop following; a graceful stop removes this replica from the view (a tombstone)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._producer is not None:
            with contextlib.suppress(KafkaError, OSError, TimeoutError):
                await self._send(REPLICA_PREFIX + self.replica_id, None)
        for client in (self._consumer, self._producer):
            if client is not None:
                with contextlib.suppress(KafkaError, OSError):
                    await client.stop()
        self._consumer = self._producer = None

    async def _catch_up(self, tps: list[TopicPartition], timeout_s: float) -> None:
        assert self._consumer is not None
        ends = await self._consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pending = [tp for tp in tps if await self._consumer.position(tp) < ends.get(tp, 0)]
            if not pending:
                return
            batches = await self._consumer.getmany(*pending, timeout_ms=self._poll_ms)
            for records in batches.values():
                for record in records:
                    self._take(record, execute=False)
        log.warning("membership: could not read %s to its end", self._kafka.topics.membership)

    async def _run(self) -> None:
        assert self._consumer is not None
        retry = Retrying(Backoff(0.5, 10.0))
        while True:
            try:
                if self._due():
                    await self._beat()
                batches = await self._consumer.getmany(timeout_ms=self._poll_ms)
                retry.reset()
            except (KafkaError, OSError, TimeoutError) as exc:
                log.warning("membership: %s; retrying", type(exc).__name__)
                await asyncio.sleep(retry.next())
                continue
            for records in batches.values():
                for record in records:
                    request = self._take(record, execute=True)
                    if request is not None:
                        await self._execute(request)

    # ------------------------------------------------------------------ reading
    def _take(self, record: ConsumerRecord[Any, Any], *, execute: bool) -> ResetRequest | None:
        key: bytes = record.key or b""
        if record.value is None:  # a tombstone: a replica left, or a request was done
            text = key.decode("utf-8", "replace")
            if text.startswith(REPLICA_PREFIX):
                self.view.forget(text.removeprefix(REPLICA_PREFIX))
            return None
        try:
            found = decode(self._signer, key, record.value, record.headers)
        except Refused as exc:
            self.refused += 1
            log.warning(
                "membership: refused the record at %s[%d]@%d (%s)",
                record.topic,
                record.partition,
                record.offset,
                exc,
            )
            return None
        if isinstance(found, Heartbeat):
            if found.replica_id != self.replica_id:
                self.view.take_heartbeat(found)
            return None
        return found if execute else None

    async def _execute(self, request: ResetRequest) -> None:
        held = {d.id for d in self._detectors.list_detectors()}
        if request.detector_id not in held:
            return  # another replica's (or a detector that moved): its holder acts
        try:
            self._detectors.reset(request.detector_id)
        except UnknownDetectorError:
            return
        log.info("membership: reset a detector at the request of %s", request.requested_by)
        with contextlib.suppress(KafkaError, OSError, TimeoutError):
            await self._send(RESET_PREFIX + request.request_id, None)
        await self._beat()

    # ------------------------------------------------------------------ writing
    def _summaries(self) -> list[DetectorSummary]:
        held = sorted(self._detectors.list_detectors(), key=lambda d: d.id)
        return [
            DetectorSummary(
                id=d.id,
                model=d.model,
                version=d.version,
                feature=d.feature,
                type=d.type,
                kind=d.kind,
                params=d.params,
                state=d.state,
            )
            for d in held[: self._fleet.max_detectors_listed]
        ]

    def _shape(self) -> tuple[Any, ...]:
        """What, when it changes, is published at once rather than at the next interval."""
        params = tuple(sorted((d.id, repr(sorted(d.params.items()))) for d in self._summaries()))
        return (tuple(sorted(self._partitions())), self._config_version(), params)

    def _due(self) -> bool:
        now = time.monotonic()
        if now - self._last_beat >= self._fleet.heartbeat_interval_s:
            return True
        if now - self._last_shape_check < 1.0:  # listing every detector 5 times a second: no
            return False
        self._last_shape_check = now
        return self._shape() != self._published

    def heartbeat(self) -> Heartbeat:
        """This replica's heartbeat, as it would be written now."""
        return Heartbeat(
            replica_id=self.replica_id,
            partitions=sorted(self._partitions()),
            config_version=self._config_version(),
            detectors=self._summaries(),
            detector_count=len(self._detectors.list_detectors()),
            at=time.time(),
            interval_s=self._fleet.heartbeat_interval_s,
        )

    async def _beat(self) -> None:
        beat = self.heartbeat()
        self._published = self._shape()
        self._last_beat = time.monotonic()
        self.view.take_heartbeat(beat)
        await self._send(REPLICA_PREFIX + self.replica_id, beat)

    async def _send(self, key: str, record: Heartbeat | ResetRequest | None) -> None:
        assert self._producer is not None
        value: bytes | None = None
        headers: list[tuple[str, bytes]] = []
        if record is not None:
            value, headers = encode(self._signer, key, record)
        sent = await self._producer.send(
            self._kafka.topics.membership, value, key=key.encode(), headers=headers
        )
        await asyncio.wait_for(sent, timeout=10)

    async def request_reset(self, detector_id: str, holder: str) -> None:
        """Ask ``holder`` to reset ``detector_id``; returns once the request is written."""
        request = ResetRequest(
            request_id=uuid.uuid4().hex,
            detector_id=detector_id,
            holder=holder,
            requested_by=self.replica_id,
            at=time.time(),
        )
        await self._send(RESET_PREFIX + request.request_id, request)

    # ------------------------------------------------------------------ reading the view
    def members(self) -> list[Member]:
        return self.view.members(time.time())

    def remote_detectors(self) -> list[tuple[str, DetectorSummary, float]]:
        return self.view.remote_detectors(time.time())

    def holder_of(self, detector_id: str) -> tuple[str, DetectorSummary, float] | None:
        return self.view.holder_of(detector_id, time.time())
