"""The config store: versioned changes on ``guardian.config``, audit on ``guardian.audit``.

Each Guardian runs one :class:`ConfigStore`. At start it reads both topics
from the beginning (its own consumer, no group, so every replica sees every
record), adopts the newest config document and fills its audit index; then a
background task keeps following them, so a change made through any replica is
applied here within about a poll interval.

Writes: :meth:`ConfigStore.commit` validates and applies a change locally,
then writes it under the keys ``v<N>`` (history, for rollback) and
``current``; if the write fails the previous document is re-applied and the
caller gets the error. Concurrency is optimistic (see
:mod:`service.control.document`): the greatest ``(version, updated_at,
origin)`` wins on every replica.

Every config record is signed on write and verified on read
(:mod:`service.control.signing`): an unsigned, forged, unknown-key, malformed
or replayed record is counted in ``guardian_config_refused_total{reason}``,
logged without its content, and never applied nor listed in the history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from service.backoff import Backoff, Retrying
from service.control.audit import AuditIndex, AuditRecord
from service.control.document import CURRENT_KEY, ConfigDocument, history_key
from service.control.signing import ConfigCodec, ConfigRefused, RefusalReason, ReplayGuard
from service.kafka.clients import common_options, follow_quietly
from service.metrics import GuardianMetrics
from service.settings import ControlSettings, KafkaSettings

log = logging.getLogger(__name__)

Apply = Callable[[ConfigDocument, ConfigDocument | None], Awaitable[None]]


class StaleWrite(RuntimeError):
    """The store is not started (or already closed): no change can be written."""


class ConfigStore:
    """Versioned live config and audit log shared through Kafka.

    Parameters
    ----------
    kafka
        Kafka settings (brokers, topic names).
    baseline
        The document this replica loaded from its files (version 0).
    apply
        ``await apply(new, applied)``: validate ``new`` against the document
        currently ``applied`` and install it; raises without changing anything
        if it does not validate.
    metrics
        ``guardian_config_version`` is set to the applied version.
    history_capacity, audit_capacity
        How many config versions and audit records are kept in memory.
    on_idle
        Called with the applied document about once a second from the follow
        task (Guardian re-applies detector patches to detectors created since).
    codec
        Signs and verifies config records (default: from ``ControlSettings()``,
        i.e. a random key of this process).
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        baseline: ConfigDocument,
        apply: Apply,
        metrics: GuardianMetrics | None = None,
        *,
        history_capacity: int = 1000,
        audit_capacity: int = 10_000,
        poll_ms: int = 200,
        on_idle: Callable[[ConfigDocument], None] | None = None,
        codec: ConfigCodec | None = None,
    ) -> None:
        self._kafka = kafka
        self._apply = apply
        self._metrics = metrics
        self.origin = baseline.origin or uuid.uuid4().hex
        self.current = baseline
        self.history: dict[int, ConfigDocument] = {}
        self.history_capacity = history_capacity
        self.audit = AuditIndex(audit_capacity)
        self._max_version = baseline.version
        self._lock = asyncio.Lock()
        self._poll_ms = poll_ms
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.rejected_versions: list[int] = []
        self._on_idle = on_idle
        self.codec = codec or ConfigCodec.from_settings(ControlSettings())
        self._replays = ReplayGuard()
        #: refusals during the catch-up read, logged as one line per reason when it ends
        self._catch_up_refusals: Counter[RefusalReason] | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self, catch_up_timeout_s: float = 15.0) -> None:
        """Read both topics to their end, adopt the newest config, then follow them."""
        options = common_options(self._kafka)
        self._producer = AIOKafkaProducer(
            **options, client_id=f"{self._kafka.client_id}-control", acks="all"
        )
        await self._producer.start()
        self._consumer = AIOKafkaConsumer(
            **options,
            client_id=f"{self._kafka.client_id}-control",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await self._consumer.start()
        follow_quietly(self._consumer, self._kafka)
        partitions = await self._partitions()
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)
        newest = await self._catch_up(partitions, catch_up_timeout_s)
        if newest is not None and newest.order_key() > self.current.order_key():
            await self._adopt(newest)
        elif newest is None:
            # An empty topic: record what this replica starts from, so version 0 can be rolled
            # back to. Replicas racing here write the same kind of record; the newest wins.
            await self._write(self.current)
        self._remember(self.current)
        self._set_metric()
        self._task = asyncio.create_task(self._follow(), name="config-follow")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for client in (self._consumer, self._producer):
            if client is not None:
                with contextlib.suppress(KafkaError, OSError):
                    await client.stop()
        self._consumer = self._producer = None

    async def _partitions(self) -> list[TopicPartition]:
        assert self._consumer is not None
        found: list[TopicPartition] = []
        await self._consumer.topics()  # refreshes metadata for every topic
        for topic in (self._kafka.topics.config, self._kafka.topics.audit):
            ids = self._consumer.partitions_for_topic(topic) or {0}
            found.extend(TopicPartition(topic, p) for p in sorted(ids))
        return found

    async def _catch_up(
        self, partitions: list[TopicPartition], timeout_s: float
    ) -> ConfigDocument | None:
        self._catch_up_refusals = Counter()
        try:
            return await self._read_to_end(partitions, timeout_s)
        finally:
            refusals, self._catch_up_refusals = self._catch_up_refusals, None
            for reason, count in sorted(refusals.items()):
                log.warning(
                    "config: refused %d record(s) of %s at start (%s)%s",
                    count,
                    self._kafka.topics.config,
                    reason,
                    " -- signed by an earlier process's random key?"
                    if reason == "unknown_key" and self.codec.ephemeral
                    else "",
                )

    async def _read_to_end(
        self, partitions: list[TopicPartition], timeout_s: float
    ) -> ConfigDocument | None:
        assert self._consumer is not None
        ends = await self._consumer.end_offsets(partitions)
        newest: ConfigDocument | None = None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pending = [
                tp for tp in partitions if await self._consumer.position(tp) < ends.get(tp, 0)
            ]
            if not pending:
                break
            batches = await self._consumer.getmany(*pending, timeout_ms=self._poll_ms)
            for tp, records in batches.items():
                for record in records:
                    doc = self._take(tp.topic, record)
                    if doc is not None and (newest is None or doc.order_key() > newest.order_key()):
                        newest = doc
        else:
            log.warning(
                "config: could not read %s to its end in %.0fs",
                self._kafka.topics.config,
                timeout_s,
            )
        return newest

    def _take(self, topic: str, record: ConsumerRecord[Any, Any]) -> ConfigDocument | None:
        """Index one record; a verified config document is returned for the caller to consider."""
        value: bytes | None = record.value
        if value is None:
            return None
        if topic == self._kafka.topics.audit:
            if not self.audit.add_json(value):
                log.warning("audit: skipped a malformed record")
            return None
        key: bytes | None = record.key
        try:
            doc = self.codec.decode(key, value, record.headers)
            self._replays.check(key or b"", doc)
        except ConfigRefused as exc:
            self._refuse(exc, record)
            return None
        self._remember(doc)
        return doc

    def _refuse(self, exc: ConfigRefused, record: ConsumerRecord[Any, Any]) -> None:
        """Count and log a refused record: reason and position only, never its content."""
        if self._metrics is not None:
            self._metrics.config_refused.labels(exc.reason).inc()
        if self._catch_up_refusals is not None:
            self._catch_up_refusals[exc.reason] += 1
            return
        log.warning(
            "config: refused the record at %s[%d]@%d (%s): %s; not applied",
            record.topic,
            record.partition,
            record.offset,
            exc.reason,
            exc.detail,
        )

    def _remember(self, doc: ConfigDocument) -> None:
        kept = self.history.get(doc.version)
        if kept is None or doc.order_key() > kept.order_key():
            self.history[doc.version] = doc
        self._max_version = max(self._max_version, doc.version)
        while len(self.history) > self.history_capacity:
            del self.history[min(self.history)]

    async def _follow(self) -> None:
        assert self._consumer is not None
        last_idle = 0.0
        retry = Retrying(Backoff(0.5, 10.0))  # full jitter: replicas do not poll in step
        while True:
            if self._on_idle is not None and time.monotonic() - last_idle >= 1.0:
                last_idle = time.monotonic()
                try:
                    self._on_idle(self.current)
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("config: periodic re-apply failed (%s)", type(exc).__name__)
            try:
                batches = await self._consumer.getmany(timeout_ms=self._poll_ms)
            except KafkaError as exc:
                log.warning("config: poll failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(retry.next())
                continue
            retry.reset()
            newest: ConfigDocument | None = None
            for tp, records in batches.items():
                for record in records:
                    doc = self._take(tp.topic, record)
                    if doc is not None and (newest is None or doc.order_key() > newest.order_key()):
                        newest = doc
            if newest is not None and newest.order_key() > self.current.order_key():
                async with self._lock:
                    if newest.order_key() > self.current.order_key():
                        await self._adopt(newest)

    async def _adopt(self, doc: ConfigDocument) -> None:
        """Apply a document written elsewhere; one that does not validate here is skipped."""
        try:
            await self._apply(doc, self.current)
        except (ValueError, KafkaError) as exc:
            self.rejected_versions.append(doc.version)
            log.error("config: version %d cannot be applied here: %s", doc.version, exc)
            return
        self.current = doc
        self._set_metric()
        log.info("config: applied version %d by %s", doc.version, doc.updated_by)

    def _set_metric(self) -> None:
        if self._metrics is not None:
            self._metrics.config_version.set(self.current.version)

    # ------------------------------------------------------------------ writing
    @property
    def started(self) -> bool:
        return self._producer is not None

    async def commit(
        self,
        actor: str,
        change: Callable[[ConfigDocument], dict[str, Any]],
        comment: str = "",
    ) -> tuple[ConfigDocument, ConfigDocument]:
        """Make a new version from ``change(current)`` (the sections to replace).

        Validates and applies it here, then writes it. Returns ``(before, after)``.
        ``change`` and the apply step raise (``ConfigInvalid``, ``KeyError`` ...) to
        refuse a change; nothing is changed or written then.
        """
        if not self.started:
            raise StaleWrite("the config store is not running")
        async with self._lock:
            before = self.current
            sections = change(before)
            after = before.successor(
                max(self._max_version, before.version),
                actor,
                self.origin,
                comment=comment,
                **sections,
            )
            await self._apply(after, before)
            try:
                await self._write(after)
            except (TimeoutError, KafkaError):
                await self._apply(before, after)
                raise
            self.current = after
            self._remember(after)
            self._set_metric()
            return before, after

    async def _write(self, doc: ConfigDocument) -> None:
        assert self._producer is not None
        topic = self._kafka.topics.config
        sent = []
        for key in (history_key(doc.version), CURRENT_KEY):
            value, headers = self.codec.encode(key, doc)
            sent.append(await self._producer.send(topic, value, key=key, headers=headers))
        await asyncio.wait_for(asyncio.gather(*sent), timeout=10)

    async def write_audit(self, record: AuditRecord) -> None:
        """Write one audit record and index it at once (it is indexed once more when read back)."""
        if self._producer is None:
            raise StaleWrite("the config store is not running")
        self.audit.add(record)
        future = await self._producer.send(
            self._kafka.topics.audit, record.model_dump_json().encode(), key=record.object.encode()
        )
        await asyncio.wait_for(future, timeout=10)
