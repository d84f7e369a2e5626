"""Guardian's log output: text lines or JSON objects (``log.format``), with the API request id.

Log lines carry identifiers, counts and reason codes, never event values: the
pipeline logs batch sizes and rejection reasons, the API the method, route
template, status and request id (``X-Request-ID``), never bodies or query strings.

With ``GUARDIAN_LOG__FORMAT=json`` every line is one JSON object::

    {"ts": "2026-12-01T14:00:00.123Z", "level": "INFO", "logger": "service.api",
     "message": "GET /v1/alerts 200", "request_id": "3f2a...", "method": "GET",
     "route": "/v1/alerts", "status": 200, "duration_ms": 1.8}

Fields passed with ``extra=`` become keys of the object when they are numbers,
booleans, short strings, or mappings of reason codes to counts.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections.abc import Mapping
from typing import IO, Any, Literal

import orjson

#: The id of the API request being handled (set by the control plane's middleware).
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "guardian_request_id", default=None
)

#: Loggers that would log analysed text at DEBUG (presidio), or full URLs that may
#: carry credentials at INFO (httpx): never below WARNING.
QUIET = ("presidio-analyzer", "presidio-anonymizer", "aiokafka", "uvicorn.error", "httpx")

_STANDARD = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
) | {"message", "asctime", "taskName"}
_MAX_EXTRA_STRING = 200


class RequestIdFilter(logging.Filter):
    """Put the current request id on every record (``None`` outside API requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, request_id, safe extras."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid is not None:
            doc["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and key != "request_id" and key not in doc:
                safe = _safe_extra(value)
                if safe is not None:
                    doc[key] = safe
        if record.exc_info and record.exc_info[0] is not None:
            doc["exc_type"] = record.exc_info[0].__name__
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def _iso(created: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{whole}.{int(created % 1 * 1000):03d}Z"


def _safe_extra(value: Any) -> Any:
    """Numbers, booleans, short strings and {code: count} mappings; anything else is dropped."""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value if len(value) <= _MAX_EXTRA_STRING else None
    if isinstance(value, Mapping) and all(
        isinstance(k, str) and len(k) <= _MAX_EXTRA_STRING and isinstance(v, int | float)
        for k, v in value.items()
    ):
        return dict(value)
    return None


def configure_logging(
    level: str, fmt: Literal["text", "json"] = "text", stream: IO[str] | None = None
) -> None:
    """Log to ``stream`` (stderr) in ``fmt``; noisy third-party loggers stay at WARNING or above."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in QUIET:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger(noisy).level))
