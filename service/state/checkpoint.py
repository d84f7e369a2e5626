"""The checkpoint format: a versioned JSON envelope, HMAC-signed, verified before parsing.

A checkpoint is one Kafka record on ``guardian.state``:

- key: the detector id (``model/version/stream/kind``), ``fairness/<model>``,
  ``performance/<model>``, ``text/<model>`` or ``alerts/<model>`` (the model's active alerts);
- value: the envelope, serialised once with orjson::

      {"v": 1, "kind": "drift" | "fairness" | "performance" | "text" | "alerts", "model": "...",
       "partition": 3, "offset": 1234, "state": {...}, "created_at": 1767225600.0}

- headers: ``guardian-sig`` (hex HMAC-SHA256) and ``guardian-kid`` (id of the
  signing key).

The MAC covers the record key and the exact value bytes (length-prefixed, so
a valid value cannot be moved under another key). Reading verifies the MAC
first, with :func:`hmac.compare_digest`, and only then parses JSON; a record
with an unknown key id, a bad MAC, an unknown envelope version or a malformed
envelope is refused with a bounded reason and never reaches a detector. JSON
only: nothing from Kafka is ever unpickled.

Key rotation: the key id is the first 16 hex digits of SHA-256 over the key,
so a reader holding the new key and the previous ones (``verify_keys``, from
``state.previous_signing_keys``) accepts records written under either while
writers sign with the new one only. The signature scheme is shared with config
documents (:mod:`service.signing`).

Replays: a valid signature says who wrote a record, not that it is the latest.
:meth:`Checkpoint.is_older_than` orders two checkpoints of one detector; the
checkpointer refuses one older than the state it already holds (``refused_replay``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from service.errors import GuardianError
from service.signing import (
    KEY_ID_HEADER,
    MIN_KEY_BYTES,
    SIGNATURE_HEADER,
    RecordSigner,
    SignatureRefused,
)

__all__ = [
    "ENVELOPE_VERSION",
    "KEY_ID_HEADER",
    "SIGNATURE_HEADER",
    "Checkpoint",
    "CheckpointCodec",
    "CheckpointRefused",
    "key_id",
]

ENVELOPE_VERSION = 1

Kind = Literal["drift", "fairness", "performance", "text", "alerts"]
RefusalReason = Literal[
    "refused_signature", "refused_version", "refused_malformed", "refused_replay"
]
_KINDS: frozenset[str] = frozenset({"drift", "fairness", "performance", "text", "alerts"})


class CheckpointRefused(GuardianError):
    """A checkpoint record that must not be restored; ``reason`` is the metric outcome."""

    def __init__(self, reason: RefusalReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: RefusalReason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One verified (or about to be signed) checkpoint.

    ``partition`` is the *input* partition the model lives on: a replica
    restores only the checkpoints of the partitions it was just assigned.
    ``offset`` is the next input offset of that partition the state reflects.
    """

    key: str
    kind: Kind
    model: str
    partition: int
    offset: int
    state: Mapping[str, Any]
    created_at: float

    def is_older_than(self, other: Checkpoint) -> bool:
        """Whether this checkpoint reflects less of the stream than ``other`` (same detector).

        On the same input partition the offset decides (wall clocks of two replicas
        may disagree; equal offsets mean the same events, so neither is older).
        Across partitions (the topic was re-partitioned) only ``created_at`` can.
        """
        if self.partition == other.partition:
            return self.offset < other.offset
        return self.created_at < other.created_at


def key_id(key: bytes) -> str:
    """Public, stable id of a signing key (never the key itself)."""
    return hashlib.sha256(key).hexdigest()[:16]


class CheckpointCodec:
    """Sign and verify checkpoint records.

    Parameters
    ----------
    signing_key
        Key new checkpoints are signed with (at least 16 bytes).
    verify_keys
        Older keys still accepted when reading (rotation); the signing key is
        always accepted.

    Examples
    --------
    >>> codec = CheckpointCodec(b"0123456789abcdef-demo")
    >>> cp = Checkpoint("fairness/m", "fairness", "m", 0, 10, {"version": 1}, 1.0)
    >>> value, headers = codec.encode(cp)
    >>> codec.decode(b"fairness/m", value, headers).offset
    10
    >>> codec.decode(b"fairness/other", value, headers)
    Traceback (most recent call last):
    ...
    service.state.checkpoint.CheckpointRefused: refused_signature: MAC does not match
    """

    def __init__(self, signing_key: bytes, verify_keys: Iterable[bytes] = ()) -> None:
        for key in (signing_key, *verify_keys):
            if len(key) < MIN_KEY_BYTES:
                raise ValueError(f"checkpoint signing keys need at least {MIN_KEY_BYTES} bytes")
        keys = {key_id(k): k for k in verify_keys}
        keys[key_id(signing_key)] = signing_key
        self._signer = RecordSigner(keys, key_id(signing_key))

    @property
    def key_id(self) -> str:
        return self._signer.key_id

    _mac = staticmethod(RecordSigner.mac)

    def encode(self, checkpoint: Checkpoint) -> tuple[bytes, list[tuple[str, bytes]]]:
        """The record value and headers of ``checkpoint`` (key: ``checkpoint.key``)."""
        value = orjson.dumps(
            {
                "v": ENVELOPE_VERSION,
                "kind": checkpoint.kind,
                "model": checkpoint.model,
                "partition": checkpoint.partition,
                "offset": checkpoint.offset,
                "state": checkpoint.state,
                "created_at": checkpoint.created_at,
            }
        )
        return value, self._signer.sign(checkpoint.key.encode(), value)

    def verify(
        self, record_key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes]]
    ) -> None:
        """Raise :class:`CheckpointRefused` unless the record carries a valid MAC.

        Runs before any parsing: the bytes of an unverified record are never decoded.
        """
        if record_key is None or value is None:
            raise CheckpointRefused("refused_malformed", "record without key or value")
        try:
            self._signer.verify(record_key, value, headers)
        except SignatureRefused as exc:
            detail = {"unsigned": "unsigned record", "unknown_key": "unknown key id"}
            raise CheckpointRefused(
                "refused_signature", detail.get(exc.reason, exc.detail)
            ) from None

    def decode(
        self, record_key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes]]
    ) -> Checkpoint:
        """Verify, then parse and check the envelope of one ``guardian.state`` record."""
        self.verify(record_key, value, headers)
        assert record_key is not None and value is not None  # verify() refused otherwise
        try:
            envelope = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise CheckpointRefused("refused_malformed", "not JSON") from None
        if not isinstance(envelope, dict):
            raise CheckpointRefused("refused_malformed", "envelope is not an object")
        if envelope.get("v") != ENVELOPE_VERSION:
            raise CheckpointRefused("refused_version", "unknown envelope version")
        kind, model, state = envelope.get("kind"), envelope.get("model"), envelope.get("state")
        partition, offset = envelope.get("partition"), envelope.get("offset")
        created = envelope.get("created_at")
        if (
            kind not in _KINDS
            or not isinstance(model, str)
            or not isinstance(state, dict)
            or not _is_count(partition)
            or not _is_count(offset)
            or not isinstance(created, int | float)
            or not math.isfinite(created)
        ):
            raise CheckpointRefused("refused_malformed", "envelope fields missing or mistyped")
        assert isinstance(partition, int) and isinstance(offset, int)
        return Checkpoint(
            key=record_key.decode("utf-8", "replace"),
            kind=kind,
            model=model,
            partition=partition,
            offset=offset,
            state=state,
            created_at=float(created),
        )


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
