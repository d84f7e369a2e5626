"""Top-level fields an event carries beyond schema v1 (``schema.unknown_fields``).

Publishers add fields (a ``request_id``, a trace id) long before a schema
version says so; rejecting the whole event for one new field made a publisher
disappear from monitoring. ``scan`` (default) keeps them under ``extra`` in the
sanitized event, scanned for PII like ``metadata`` (the redaction policy must
scan ``extra.**``: :func:`policy_scans_extra`; where it does not, they are
dropped rather than passed unscanned); ``drop`` removes them; ``reject`` sends
the event to the DLQ as before.

``guardian`` is never an unknown field to keep: an input event may not carry
its own ``guardian`` block (it would spoof its retention), so it always fails
validation.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from service.metrics import OTHER
from service.schema import InferenceEvent

UnknownFields = Literal["scan", "drop", "reject"]
#: Where kept unknown fields go in the sanitized event.
EXTRA = "extra"
KNOWN = frozenset(InferenceEvent.model_fields)
#: Never kept: an input's own ``guardian`` block is refused by validation.
RESERVED = frozenset({"guardian"})
#: Field names that may become a metric label; anything else (it could be data: an e-mail
#: used as a key) is counted as ``__other__``.
_LABEL_SAFE = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")


def unknown_names(obj: dict[str, Any]) -> list[str]:
    """Top-level keys of ``obj`` that schema v1 does not define."""
    return [key for key in obj if key not in KNOWN]


def split_unknown(obj: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Remove the unknown fields ``names`` (except reserved ones) from ``obj``; return them."""
    return {name: obj.pop(name) for name in names if name not in RESERVED}


def field_label(name: str) -> str:
    """A metric label value for an unknown field name: the name if identifier-shaped."""
    return name if _LABEL_SAFE.match(name) else OTHER


def policy_scans_extra(scan_paths: list[str]) -> bool:
    """Whether a redaction policy with these scan rule paths scans every string under ``extra``.

    Conservative: only a rule ``extra.**`` or ``**`` counts (first-match rules on
    narrower paths could leave some strings under ``extra`` unscanned).
    """
    return any(path in ("extra.**", "**") for path in scan_paths)
