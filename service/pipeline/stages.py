"""The explicit chain of stages every batch goes through.

A stage takes the whole batch (so redaction can fan texts out to worker
processes and detectors can update in one pass) and marks the events it
rejects; it never raises for one bad event. ``validate → redact → retain →
detect`` is built by :func:`service.runtime.build_stages`.
"""

from __future__ import annotations

from typing import Protocol

from service.errors import InvalidEvent
from service.pipeline.context import EventContext
from service.pipeline.decode import decode_event
from service.settings import LimitSettings


class Stage(Protocol):
    """One step of the pipeline over a batch of contexts."""

    name: str

    async def process(self, batch: list[EventContext]) -> None:
        """Update or reject each context of ``batch`` in place."""


class ValidateStage:
    """Bytes → validated event dict; malformed messages are rejected with a reason."""

    name = "validate"

    def __init__(self, limits: LimitSettings) -> None:
        self._limits = limits

    async def process(self, batch: list[EventContext]) -> None:
        limits = self._limits
        for ctx in batch:
            try:
                event = decode_event(ctx.raw, limits)
            except InvalidEvent as exc:
                ctx.reject(exc.dlq_reason or "invalid_schema", exc.detail)
                continue
            ctx.event = event
            model = event["model"]
            ctx.model = model["name"]
            ctx.version = model["version"]


class FixedRetentionStage:
    """Every valid event to one class; stands in until a retention policy is configured."""

    name = "retain"

    def __init__(self, topic_prefix: str, class_name: str = "standard") -> None:
        self._class = class_name
        self._topic = f"{topic_prefix}{class_name}"

    async def process(self, batch: list[EventContext]) -> None:
        for ctx in batch:
            if ctx.ok:
                ctx.retention_class = self._class
                ctx.output_topic = self._topic
