"""Input record headers copied to the sanitized output (``kafka.forward_headers``).

Publishers put trace ids in headers, and also tokens and user ids. A header
reaches the output only when its name is allow-listed, and only after its value
was scanned like ``metadata`` (same redaction policy, same batch of analyses):
a value with findings is forwarded redacted, a value that is not UTF-8 text or
whose analysis failed is not forwarded (fail closed). Findings are listed in
the event's ``guardian.redactions`` under ``headers.<name>`` and count for its
entities (the ``guardian-pii`` header and the retention class).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from service.pipeline.context import EventContext
from service.redaction.redactor import RedactionOutcome

log = logging.getLogger(__name__)

#: Where header values sit in the synthetic events handed to the redactor (scanned as metadata).
_SCANNED_AS = "metadata"


def allowed(
    headers: Sequence[tuple[str, bytes | None]], names: frozenset[str]
) -> tuple[tuple[str, bytes | None], ...]:
    """The allow-listed headers of an input record, in their order, the first of each name.

    Names match exactly (Kafka header names are case-sensitive).
    """
    kept: dict[str, bytes | None] = {}
    for name, value in headers:
        if name in names and name not in kept:
            kept[name] = value
    return tuple(kept.items())


def scan_requests(batch: Sequence[EventContext]) -> list[tuple[EventContext, dict[str, Any]]]:
    """One synthetic event per context with text header values: ``{"metadata": {name: text}}``."""
    requests = []
    for ctx in batch:
        if not ctx.input_headers:
            continue
        texts: dict[str, str] = {}
        for name, value in ctx.input_headers:
            if value is None:
                continue
            try:
                texts[name] = value.decode("utf-8")
            except UnicodeDecodeError:
                continue  # binary: cannot be scanned, so never forwarded
        requests.append((ctx, {_SCANNED_AS: texts}))
    return requests


def apply(ctx: EventContext, outcome: RedactionOutcome) -> None:
    """Set ``ctx.headers`` to the forwarded headers, sanitized by ``outcome``."""
    if outcome.failed:
        log.warning("headers of %s not forwarded: %s", ctx.where, outcome.reason)
        ctx.headers = [(k, v) for k, v in ctx.input_headers if v is None]
        return
    sanitized = outcome.event.get(_SCANNED_AS, {})
    forwarded: list[tuple[str, Any]] = []
    for name, value in ctx.input_headers:
        if value is None:
            forwarded.append((name, None))
        elif isinstance(text := sanitized.get(name), str):
            forwarded.append((name, text.encode("utf-8")))
    ctx.headers = forwarded
    if outcome.redactions and ctx.event is not None:
        block = ctx.event.setdefault("guardian", {})
        listed = block.setdefault("redactions", [])
        prefix = f"{_SCANNED_AS}."
        for r in outcome.redactions:
            item = r.as_dict()
            item["path"] = "headers." + r.path.removeprefix(prefix)
            listed.append(item)
        ctx.entities = ctx.entities | outcome.entities
