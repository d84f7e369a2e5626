"""Operators: what replaces a finding in a text, or a whole structured value.

Applied in the main process (keys never leave it); analysis only returns spans.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic import SecretStr

from service.redaction.engine import Finding
from service.redaction.policy import OperatorSpec


class MissingHmacKey(ValueError):
    """A policy pseudonymises but settings hold no active HMAC key."""


class Pseudonymizer:
    """Keyed HMAC-SHA256 pseudonyms, ``<ENTITY:key_id:digest>``.

    The digest covers the value only (not the entity), so the same e-mail
    address gets the same pseudonym in a prompt and in a structured feature and
    joins still work. Old key ids stay usable to recompute old pseudonyms.

    Examples
    --------
    >>> p = Pseudonymizer({"k1": SecretStr("key")}, "k1")
    >>> p.pseudonym("EMAIL_ADDRESS", "a@b.org", 16)
    '<EMAIL_ADDRESS:k1:31ae017ee09804d9>'
    """

    def __init__(self, keys: Mapping[str, SecretStr], active: str | None) -> None:
        self._keys = {kid: key.get_secret_value().encode() for kid, key in keys.items()}
        self.active = active

    def __repr__(self) -> str:  # never show keys
        return f"Pseudonymizer(key_ids={sorted(self._keys)}, active={self.active!r})"

    def digest(self, value: str, key_id: str | None = None) -> str:
        """Full hex HMAC-SHA256 of ``value`` under ``key_id`` (default: the active key)."""
        kid = key_id or self.active
        if kid is None or kid not in self._keys:
            raise MissingHmacKey(
                "the redaction policy uses the hmac operator but no HMAC key is configured "
                "(set redaction.hmac_keys and redaction.active_hmac_key)"
            )
        return hmac.new(self._keys[kid], value.encode("utf-8"), hashlib.sha256).hexdigest()

    def pseudonym(self, entity: str, value: str, chars: int, key_id: str | None = None) -> str:
        """The replacement text, carrying the key id so rotations are visible."""
        kid = key_id or self.active
        return f"<{entity}:{kid}:{self.digest(value, kid)[:chars]}>"


def replacement(op: OperatorSpec, entity: str, value: str, pseudonyms: Pseudonymizer) -> str:
    """Text that replaces ``value`` (a finding or a structured value) under ``op``."""
    if op.type == "replace":
        return f"<{entity}>"
    if op.type == "redact":
        return ""
    if op.type == "mask":
        keep = min(op.keep_last, len(value) // 4)  # never reveal more than a quarter
        return op.mask_char * (len(value) - keep) + (value[len(value) - keep :] if keep else "")
    if op.type == "hmac":
        return pseudonyms.pseudonym(entity, value, op.digest_chars)
    if op.type == "keep":
        return value  # only in a policy accepted with an override (service.overrides)
    raise ValueError(f"operator {op.type!r} has no replacement text")


def merge_spans(findings: Sequence[Finding]) -> list[Finding]:
    """Union overlapping findings so no part of any finding survives.

    The merged span keeps the entity of its highest-scoring finding (then the
    longest, then by name), which decides its operator.
    """
    merged: list[Finding] = []
    for entity, start, end, score in sorted(findings, key=lambda f: (f[1], -f[2])):
        if merged and start < merged[-1][2]:
            m_entity, m_start, m_end, m_score = merged[-1]
            better = (score, end - start, entity) > (m_score, m_end - m_start, m_entity)
            merged[-1] = (
                entity if better else m_entity,
                m_start,
                max(end, m_end),
                max(score, m_score),
            )
        else:
            merged.append((entity, start, end, score))
    return merged


def structured_text(value: Any) -> str:
    """Canonical text of a structured value, for hashing and masking non-strings."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
