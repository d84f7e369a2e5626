"""The one DLQ scrubber: what of a rejected message may be kept, without analysis.

A message is dead-lettered because something about it is wrong, so nothing
about it can be trusted: not that its texts are where the schema says, nor that
redaction would have found what they hold. Every DLQ path (schema failures,
failed redaction, identifiers that look like PII, retention errors, stage
errors, the redaction dry-run's failed outcome) goes through :func:`scrub_payload`
and :func:`scrub_detail`:

* values become their type and size (``<str:12>``, ``<int>``); ``null`` and
  booleans stay; so do ``schema_version`` and the identifiers (``event_id``,
  ``tenant``, ``model.name``, ``model.version``) when they match the identifier
  pattern and hold no PII shape;
* keys stay when they are the schema's own (at their place) or plain names
  (:func:`~service.redaction.shapes.plain_key`); any other key becomes
  ``<key:N>``, ``N`` its position in its object (unique, so nothing is merged);
* the error detail (also the ``guardian-error`` header) loses every submitted
  key and string value it repeats, and every PII shape.

Examples
--------
>>> scrub_payload({"event_id": "e-1", "metadata": {"bob@example.com": "hi", "n": 5}})
{'event_id': 'e-1', 'metadata': {'<key:0>': '<str:2>', 'n': '<int>'}}
>>> scrub_detail("metadata.bob@example.com: bad", {"metadata": {"bob@example.com": 1}})
'metadata.<redacted>: bad'
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from service.redaction.shapes import find_shapes, mask_shapes, plain_key

_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-/]{0,127}$")
_MAX_NODES = 2_000
_MAX_DEPTH = 32
#: Keys of the schema, by the path of the object they belong to.
_SCHEMA_KEYS: dict[tuple[str, ...], frozenset[str]] = {
    (): frozenset(
        {
            "schema_version",
            "event_id",
            "timestamp",
            "model",
            "tenant",
            "inputs",
            "outputs",
            "latency_ms",
            "subject",
            "metadata",
            "guardian",
            "extra",
            "label",
        }
    ),
    ("model",): frozenset({"name", "version"}),
    ("inputs",): frozenset({"features", "text"}),
    ("outputs",): frozenset({"prediction", "score", "text"}),
    ("subject",): frozenset({"protected"}),
}
_VOCABULARY = frozenset().union(*_SCHEMA_KEYS.values())
_REDACTED = "<redacted>"


def safe_identifier(value: Any) -> bool:
    """Whether an identifier may be shown: identifier-shaped and no PII shape in it."""
    return isinstance(value, str) and bool(_IDENTIFIER.match(value)) and not find_shapes(value)


def _raw_size(obj: bytes | bytearray | str) -> int:
    return len(obj) if not isinstance(obj, str) else len(obj.encode("utf-8", "surrogatepass"))


def scrub_payload(obj: Any) -> Any:
    """The DLQ copy of a message: parsed JSON or raw bytes/text (see the module docstring).

    Raw input that is not a JSON object becomes ``<redacted:N bytes>``.
    """
    if isinstance(obj, bytes | bytearray | str):
        try:
            parsed = orjson.loads(obj)
        except orjson.JSONDecodeError:
            return f"<redacted:{_raw_size(obj)} bytes>"
        if not isinstance(parsed, dict):
            return f"<redacted:{_raw_size(obj)} bytes>"
        obj = parsed
    out = _shape(obj, (), [_MAX_NODES])
    if isinstance(obj, dict):
        if type(obj.get("schema_version")) is int:
            out["schema_version"] = obj["schema_version"]
        for key in ("event_id", "tenant"):
            if safe_identifier(obj.get(key)):
                out[key] = obj[key]
        model, shown = obj.get("model"), out.get("model")
        if isinstance(model, dict) and isinstance(shown, dict):
            for key in ("name", "version"):
                if safe_identifier(model.get(key)):
                    shown[key] = model[key]
    return out


def _shape(value: Any, path: tuple[str, ...], budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        return "<truncated>"
    if isinstance(value, dict):
        if len(path) >= _MAX_DEPTH:
            return "<nested>"
        schema = _SCHEMA_KEYS.get(path, frozenset())
        out: dict[str, Any] = {}
        for i, (key, child) in enumerate(value.items()):
            key = str(key)
            name = key if key in schema or plain_key(key) else f"<key:{i}>"
            out[name] = _shape(child, (*path, name), budget)
        return out
    if isinstance(value, list):
        if len(path) >= _MAX_DEPTH:
            return "<nested>"
        return [_shape(v, (*path, "[]"), budget) for v in value]
    if isinstance(value, str):
        return f"<str:{len(value)}>"
    if value is None or isinstance(value, bool):
        return value
    return f"<{type(value).__name__}>"


def _submitted(obj: Any, into: set[str], budget: list[int], depth: int = 0) -> None:
    """Every key and string value of ``obj`` (4 characters or more, not schema words)."""
    budget[0] -= 1
    if budget[0] < 0 or depth > _MAX_DEPTH:
        return
    if isinstance(obj, dict):
        for key, value in obj.items():
            key = str(key)
            if len(key) >= 4 and key not in _VOCABULARY:
                into.add(key)
            _submitted(value, into, budget, depth + 1)
    elif isinstance(obj, list):
        for value in obj:
            _submitted(value, into, budget, depth + 1)
    elif isinstance(obj, str):
        if len(obj) >= 4 and obj not in _VOCABULARY:
            into.add(obj)
    elif type(obj) is int or type(obj) is float:
        text = str(obj)
        if len(text) >= 6:
            into.add(text)


def scrub_detail(detail: str, parsed: Any = None) -> str:
    """An error detail without any key or string value of ``parsed``, nor any PII shape.

    Details are written from field locations and fixed messages, with unsafe
    locations already masked; this is the last line, for a message that echoes
    what it was given (a validator's text, a library's error).
    """
    if parsed is not None and not isinstance(parsed, dict | list):
        parsed = None
    if parsed is not None:
        submitted: set[str] = set()
        _submitted(parsed, submitted, [_MAX_NODES])
        for value in sorted((s for s in submitted if s in detail), key=len, reverse=True):
            detail = detail.replace(value, _REDACTED)
    return mask_shapes(detail)


def dlq_key(key: bytes | None) -> bytes | None:
    """The Kafka key of a DLQ record: the input's key if it is a safe identifier, else none."""
    if key is None or len(key) > 128:
        return None
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return key if safe_identifier(text) else None
