"""The explicit chain of stages every batch goes through.

A stage takes the whole batch (so redaction can fan texts out to worker
processes and detectors can update in one pass) and marks the events it
rejects; it never raises for one bad event. ``validate → redact → retain →
detect`` is built by :func:`service.composition.build_guardian`.
"""

from __future__ import annotations

import logging
from collections import Counter as Tally
from typing import Any, Protocol

from service.errors import InvalidEvent
from service.metrics import GuardianMetrics
from service.pipeline import forwarded_headers
from service.pipeline.context import EventContext
from service.pipeline.decode import decode_event
from service.pipeline.unknown_fields import EXTRA, UnknownFields, field_label, policy_scans_extra
from service.redaction.redactor import Redactor
from service.retention import EventTimestampError, RetentionPolicy, RuleCache, Tagger
from service.settings import LimitSettings

log = logging.getLogger(__name__)


class Stage(Protocol):
    """One step of the pipeline over a batch of contexts."""

    name: str

    async def process(self, batch: list[EventContext]) -> None:
        """Update or reject each context of ``batch`` in place."""


class ValidateStage:
    """Bytes → validated event dict; malformed messages are rejected with a reason.

    Unknown top-level fields are handled per ``unknown_fields`` (see
    :mod:`service.pipeline.unknown_fields`) and counted in
    ``guardian_unknown_fields_total{field}`` in every mode.
    """

    name = "validate"

    def __init__(
        self,
        limits: LimitSettings,
        unknown_fields: UnknownFields = "reject",
        metrics: GuardianMetrics | None = None,
    ) -> None:
        self._limits = limits
        self._unknown_fields: UnknownFields = unknown_fields
        self._metrics = metrics

    async def process(self, batch: list[EventContext]) -> None:
        limits, mode = self._limits, self._unknown_fields
        seen: list[str] = []
        try:
            for ctx in batch:
                try:
                    event = decode_event(ctx.raw, limits, mode, seen)
                except InvalidEvent as exc:
                    ctx.reject(exc.dlq_reason or "invalid_schema", exc.detail)
                    continue
                ctx.event = event
                model = event["model"]
                ctx.model = model["name"]
                ctx.version = model["version"]
        finally:
            if seen and self._metrics is not None:
                self._count_unknown(self._metrics, seen)

    @staticmethod
    def _count_unknown(metrics: GuardianMetrics, seen: list[str]) -> None:
        for name, n in Tally(seen).items():
            label = metrics.field_label(field_label(name))
            metrics.unknown_fields.labels(label).inc(n)


class RedactStage:
    """PII and secrets out of every scanned field; a failed analysis fails closed to the DLQ.

    So does an identifier (event id, tenant, model name or version) that looks
    like PII: identifiers are never redacted, so the event is refused
    (``pii_in_identifier``) before it can reach a topic, a join or a metric label.
    """

    name = "redact"

    def __init__(self, redactor: Redactor, max_depth: int | None = None) -> None:
        self.redactor = redactor
        #: How deep a validated event may nest (``limits.max_depth``), if validation ran first.
        self.max_depth = max_depth
        self._checked_policy: object = None
        self._scans_extra = True

    async def process(self, batch: list[EventContext]) -> None:
        valid = [ctx for ctx in batch if ctx.ok and ctx.event is not None]
        if not valid:
            return
        if not self._policy_scans_extra():
            # Kept unknown fields are never passed unscanned: without a rule, they go.
            for ctx in valid:
                ctx.event.pop(EXTRA, None)  # type: ignore[union-attr]
        # Allow-listed input headers are scanned in the same batch, as metadata.
        header_scans = forwarded_headers.scan_requests(valid)
        events: list[dict[str, Any]] = [ctx.event for ctx in valid if ctx.event is not None]
        events += [synthetic for _, synthetic in header_scans]
        outcomes = await self.redactor.redact_batch(events, depth_at_most=self.max_depth)
        for ctx, outcome in zip(valid, outcomes, strict=False):
            if outcome.failed:
                # ctx.event stays the original: the DLQ writer scrubs it without analysis.
                # The reason is value-free ("model.name looks like PHONE_NUMBER").
                ctx.reject(outcome.dlq_reason, outcome.reason or "analysis failed")
                continue
            ctx.event = outcome.event
            ctx.entities = outcome.entities
        for (ctx, _), outcome in zip(header_scans, outcomes[len(valid) :], strict=True):
            if ctx.ok:
                forwarded_headers.apply(ctx, outcome)

    def _policy_scans_extra(self) -> bool:
        policy = self.redactor.policy
        if policy is not self._checked_policy:  # checked once per (live-replaced) policy
            self._checked_policy = policy
            self._scans_extra = policy_scans_extra([rule.path for rule in policy.scan])
            if not self._scans_extra:
                log.warning(
                    "redaction policy %s has no scan rule 'extra.**': unknown event fields "
                    "(schema.unknown_fields=scan) are dropped instead of kept",
                    policy.version,
                )
        return self._scans_extra


class RetainStage:
    """Tag each event with its retention class and route it to that class's topic."""

    name = "retain"

    def __init__(
        self, policy: RetentionPolicy, topic_prefix: str, metrics: GuardianMetrics
    ) -> None:
        self.policy = policy
        self.topic_prefix = topic_prefix
        self._assigned = metrics.retention_assigned
        self._children: dict[str, Any] = {}
        self._rules = RuleCache(policy)
        self._tag = Tagger()

    async def process(self, batch: list[EventContext]) -> None:
        if self._rules.policy is not self.policy:  # replaced live
            self._rules = RuleCache(self.policy)
        classify, tag_event, prefix = self._rules.classify, self._tag, self.topic_prefix
        assigned: dict[str, int] = {}  # counted once per class and batch (a lock per inc)
        try:
            for ctx in batch:
                if not ctx.ok or ctx.event is None:
                    continue
                try:
                    decision, timestamp = classify(ctx.event, ctx.entities)
                except EventTimestampError as exc:
                    ctx.reject(exc.dlq_reason, str(exc))
                    continue
                ctx.ts = timestamp.timestamp()
                ctx.headers = tag_event(ctx.event, decision, ctx.headers, ctx.entities)
                ctx.retention_class = name = decision.class_name
                ctx.output_topic = f"{prefix}{name}"
                assigned[name] = assigned.get(name, 0) + 1
        finally:  # also what was tagged before an exception (the worker re-runs the rest)
            for name, n in assigned.items():
                child = self._children.get(name)
                if child is None:
                    child = self._children[name] = self._assigned.labels(name)
                child.inc(n)
