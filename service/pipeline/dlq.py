"""Dead-letter records: the reason, where the message came from, and nothing personal.

The payload, the error detail, the ``guardian-error`` header and the Kafka key
all go through the one scrubber, :mod:`service.redaction.scrub` (which the
redactor's fail-closed outcome uses too): values become their type and size,
keys that are not plain names become ``<key:N>``, identifiers stay only when
they hold no PII shape. That is enough to see *what* was wrong ("features.age is
a string") without keeping *what was said*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from service.redaction.scrub import dlq_key, scrub_detail, scrub_payload

#: Bytes of the ``guardian-error`` header kept (reason and detail).
MAX_ERROR_HEADER = 1024


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One DLQ message: value, Kafka key (``None`` unless a safe identifier), error header."""

    value: bytes
    key: bytes | None
    error: bytes


def dead_letter(
    *,
    reason: str,
    detail: str,
    topic: str,
    partition: int,
    offset: int,
    raw: bytes,
    parsed: Any | None,
    key: bytes | None,
) -> DeadLetter:
    """The scrubbed DLQ message for a rejected input; the detail is scrubbed once for both."""
    detail = scrub_detail(detail, parsed)
    value = _record(reason, detail, topic, partition, offset, raw, parsed)
    header = f"{reason}: {detail}".encode()[:MAX_ERROR_HEADER]
    return DeadLetter(value, dlq_key(key), header)


def _record(
    reason: str, detail: str, topic: str, partition: int, offset: int, raw: bytes, parsed: Any
) -> bytes:
    payload: Any = scrub_payload(parsed) if parsed is not None else f"<redacted:{len(raw)} bytes>"
    return orjson.dumps(
        {
            "reason": reason,
            "detail": detail,
            "source": {"topic": topic, "partition": partition, "offset": offset},
            "payload": payload,
        }
    )
