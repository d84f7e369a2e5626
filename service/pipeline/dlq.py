"""Dead-letter records: the reason, where the message came from, and nothing personal.

A message lands here because something about it is wrong, so nothing about it
can be trusted: not that its text fields are where the schema says, nor that
redaction would have found what they hold. The record therefore keeps only the
envelope identifiers that match the identifier pattern, and replaces every other
value by its type and size (fail closed). That is enough to see *what* was wrong
("features.age is a string") without keeping *what was said*.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-/]{0,127}$")
_ENVELOPE = ("event_id", "tenant")
_MAX_NODES = 2_000


def _shape(value: Any, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        return "<truncated>"
    if isinstance(value, dict):
        return {
            (k if _IDENTIFIER.match(k) else "<key>"): _shape(v, budget) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_shape(v, budget) for v in value]
    if isinstance(value, str):
        return f"<str:{len(value)}>"
    if value is None or isinstance(value, bool):
        return value
    return f"<{type(value).__name__}>"


def scrub(obj: Any) -> Any:
    """Keep envelope identifiers, replace every other value by its type and size."""
    if not isinstance(obj, dict):
        return _shape(obj, [_MAX_NODES])
    out: dict[str, Any] = _shape(obj, [_MAX_NODES])
    for key in _ENVELOPE:
        value = obj.get(key)
        if isinstance(value, str) and _IDENTIFIER.match(value):
            out[key] = value
    model = obj.get("model")
    if isinstance(model, dict):
        out["model"] = {
            k: v
            for k in ("name", "version")
            if isinstance(v := model.get(k), str) and _IDENTIFIER.match(v)
        }
    if isinstance(obj.get("schema_version"), int):
        out["schema_version"] = obj["schema_version"]
    return out


def dlq_record(
    *,
    reason: str,
    detail: str,
    topic: str,
    partition: int,
    offset: int,
    raw: bytes,
    parsed: Any | None,
) -> bytes:
    """The DLQ message body: reason, source coordinates and a scrubbed payload."""
    payload: Any = scrub(parsed) if parsed is not None else f"<redacted:{len(raw)} bytes>"
    return orjson.dumps(
        {
            "reason": reason,
            "detail": detail,
            "source": {"topic": topic, "partition": partition, "offset": offset},
            "payload": payload,
        }
    )
