"""What travels through the stages for one input message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class EventContext:
    """One consumed message and everything the stages decide about it.

    A stage that rejects the message sets ``error`` (a bounded reason code) and
    ``error_detail`` (a message with no event values); later stages skip it and
    the output stage sends it to the DLQ, scrubbed.
    """

    topic: str
    partition: int
    offset: int
    raw: bytes
    key: bytes | None = None
    event: dict[str, Any] | None = None
    model: str = ""
    version: str = ""
    entities: frozenset[str] = frozenset()
    #: Headers of the output record (forwarded input headers, then Guardian's own).
    headers: list[tuple[str, Any]] = field(default_factory=list)
    #: Allow-listed input headers (``kafka.forward_headers``), not yet scanned.
    input_headers: tuple[tuple[str, bytes | None], ...] = ()
    retention_class: str = "standard"
    #: Event time in Unix seconds, set by the retain stage (which parses the timestamp).
    ts: float | None = None
    output_topic: str = ""
    error: str | None = None
    error_detail: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None

    def reject(self, reason: str, detail: str) -> None:
        self.error = reason
        self.error_detail = detail

    @property
    def where(self) -> str:
        """``topic[partition]@offset``, for logs (never the payload)."""
        return f"{self.topic}[{self.partition}]@{self.offset}"
