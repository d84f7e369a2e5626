"""Write a retention decision into the sanitized event and its Kafka headers.

The body carries ``guardian.retention`` (``class``, ``expires_at``) and
``guardian.policy_version``; the headers carry the same facts so consumers and
brokers-side tools can route or filter without parsing JSON. Both are pure
functions of the decision: tagging an event twice leaves it as tagging it once,
so a batch re-processed after a crash produces identical outputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from service.retention.policy import RetentionDecision

HEADER_CLASS = "guardian-retention-class"
HEADER_EXPIRES_AT = "guardian-expires-at"
HEADER_POLICY_VERSION = "guardian-policy-version"
HEADER_PII = "guardian-pii"
NEVER = "never"
"""Value of ``guardian-expires-at`` for a class without expiry (legal hold)."""

RETENTION_HEADERS = (HEADER_CLASS, HEADER_EXPIRES_AT, HEADER_POLICY_VERSION, HEADER_PII)


def tag(event: dict[str, Any], decision: RetentionDecision) -> None:
    """Add ``guardian.retention`` and ``guardian.policy_version`` to ``event`` in place.

    An existing ``guardian`` object (e.g. ``redactions`` written by the
    redactor) is kept and merged into; a ``guardian`` value that is not an
    object came from the publisher and is replaced, so nobody upstream can
    choose their own retention.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> d = RetentionDecision("short", datetime(2026, 12, 7, tzinfo=UTC), "pii", "v1")
    >>> event = {"guardian": {"redactions": []}}
    >>> tag(event, d)
    >>> event["guardian"]
    {'redactions': [], 'retention': {'class': 'short', 'expires_at': '2026-12-07T00:00:00.000Z'}, 'policy_version': 'v1'}
    """  # noqa: E501
    block = event.get("guardian")
    if not isinstance(block, dict):
        block = {}
        event["guardian"] = block
    block["retention"] = {"class": decision.class_name, "expires_at": decision.expires_at_text}
    block["policy_version"] = decision.policy_version


def pii_header_value(entities: Iterable[str]) -> str:
    """Entity types found, sorted, deduplicated and comma-separated (``""`` when none)."""
    return ",".join(sorted(set(entities)))


def headers(decision: RetentionDecision, entities: Iterable[str]) -> list[tuple[str, bytes]]:
    """Kafka headers for a sanitized event, in a fixed order.

    Examples
    --------
    >>> d = RetentionDecision("legal_hold", None, "legal-hold", "v1")
    >>> headers(d, ["PHONE_NUMBER", "EMAIL_ADDRESS"])  # doctest: +NORMALIZE_WHITESPACE
    [('guardian-retention-class', b'legal_hold'), ('guardian-expires-at', b'never'),
     ('guardian-policy-version', b'v1'), ('guardian-pii', b'EMAIL_ADDRESS,PHONE_NUMBER')]
    """
    expires = decision.expires_at_text
    return [
        (HEADER_CLASS, decision.class_name.encode()),
        (HEADER_EXPIRES_AT, (NEVER if expires is None else expires).encode()),
        (HEADER_POLICY_VERSION, decision.policy_version.encode()),
        (HEADER_PII, pii_header_value(entities).encode()),
    ]


def merge_headers(
    existing: Sequence[tuple[str, bytes]],
    decision: RetentionDecision,
    entities: Iterable[str],
) -> list[tuple[str, bytes]]:
    """``existing`` headers without any earlier retention headers, plus :func:`headers`.

    For a pipeline that already holds headers (e.g. from the input message or
    the redactor): the result never carries two ``guardian-retention-class``
    values, and merging twice gives the same list as merging once.
    """
    kept = [(key, value) for key, value in existing if key not in RETENTION_HEADERS]
    return kept + headers(decision, entities)


class Tagger:
    """:func:`tag` and :func:`merge_headers` in one step, for the hot path.

    Gives exactly what the two functions give, formatting the expiry once and
    reusing the encoded headers that repeat (class, policy version, the PII
    header of an entity set).
    """

    def __init__(self) -> None:
        self._constant: dict[tuple[str, str], tuple[tuple[str, bytes], tuple[str, bytes]]] = {}
        self._pii: dict[frozenset[str], tuple[str, bytes]] = {}

    def __call__(
        self,
        event: dict[str, Any],
        decision: RetentionDecision,
        existing: Sequence[tuple[str, bytes]],
        entities: frozenset[str],
    ) -> list[tuple[str, bytes]]:
        """Tag ``event`` in place and return its headers (``merge_headers(existing, ...)``)."""
        expires = decision.expires_at_text
        block = event.get("guardian")
        if not isinstance(block, dict):
            block = {}
            event["guardian"] = block
        block["retention"] = {"class": decision.class_name, "expires_at": expires}
        block["policy_version"] = decision.policy_version
        constant = self._constant.get((decision.class_name, decision.policy_version))
        if constant is None:
            if len(self._constant) > 1_000:
                self._constant.clear()
            constant = self._constant[(decision.class_name, decision.policy_version)] = (
                (HEADER_CLASS, decision.class_name.encode()),
                (HEADER_POLICY_VERSION, decision.policy_version.encode()),
            )
        pii = self._pii.get(entities)
        if pii is None:
            if len(self._pii) > 1_000:
                self._pii.clear()
            pii = self._pii[entities] = (HEADER_PII, pii_header_value(entities).encode())
        kept = [h for h in existing if h[0] not in RETENTION_HEADERS] if existing else []
        kept += (
            constant[0],
            (HEADER_EXPIRES_AT, (NEVER if expires is None else expires).encode()),
            constant[1],
            pii,
        )
        return kept
