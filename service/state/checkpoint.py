"""The checkpoint format: a versioned JSON envelope, HMAC-signed, verified before parsing.

A checkpoint is one Kafka record on ``guardian.state``:

- key: the detector id (``model/version/stream/kind``) or ``fairness/<model>``;
- value: the envelope, serialised once with orjson::

      {"v": 1, "kind": "drift" | "fairness", "model": "...", "partition": 3,
       "offset": 1234, "state": {...}, "created_at": 1767225600.0}

- headers: ``guardian-sig`` (hex HMAC-SHA256) and ``guardian-kid`` (id of the
  signing key).

The MAC covers the record key and the exact value bytes (length-prefixed, so
a valid value cannot be moved under another key). Reading verifies the MAC
first, with :func:`hmac.compare_digest`, and only then parses JSON; a record
with an unknown key id, a bad MAC, an unknown envelope version or a malformed
envelope is refused with a bounded reason and never reaches a detector. JSON
only: nothing from Kafka is ever unpickled.

Key rotation: the key id is the first 16 hex digits of SHA-256 over the key,
so a reader holding the new key and the previous ones (``verify_keys``)
accepts records written under either while writers sign with the new one only.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from service.errors import GuardianError

ENVELOPE_VERSION = 1
SIGNATURE_HEADER = "guardian-sig"
KEY_ID_HEADER = "guardian-kid"
MIN_KEY_BYTES = 16

Kind = Literal["drift", "fairness"]
RefusalReason = Literal["refused_signature", "refused_version", "refused_malformed"]
_KINDS: frozenset[str] = frozenset({"drift", "fairness"})


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
        self._kid = key_id(signing_key)
        self._keys: dict[str, bytes] = {key_id(k): k for k in verify_keys}
        self._keys[self._kid] = signing_key

    @property
    def key_id(self) -> str:
        return self._kid

    @staticmethod
    def _mac(key: bytes, record_key: bytes, value: bytes) -> bytes:
        mac = hmac.new(key, digestmod=hashlib.sha256)
        mac.update(len(record_key).to_bytes(4, "big"))
        mac.update(record_key)
        mac.update(value)
        return mac.digest()

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
        mac = self._mac(self._keys[self._kid], checkpoint.key.encode(), value)
        return value, [(SIGNATURE_HEADER, mac.hex().encode()), (KEY_ID_HEADER, self._kid.encode())]

    def verify(
        self, record_key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes]]
    ) -> None:
        """Raise :class:`CheckpointRefused` unless the record carries a valid MAC.

        Runs before any parsing: the bytes of an unverified record are never decoded.
        """
        if record_key is None or value is None:
            raise CheckpointRefused("refused_malformed", "record without key or value")
        found = dict(headers)
        kid, sig = found.get(KEY_ID_HEADER), found.get(SIGNATURE_HEADER)
        if kid is None or sig is None:
            raise CheckpointRefused("refused_signature", "unsigned record")
        key = self._keys.get(kid.decode("ascii", "replace"))
        if key is None:
            raise CheckpointRefused("refused_signature", "unknown key id")
        expected = self._mac(key, record_key, value).hex().encode()
        if not hmac.compare_digest(expected, sig):
            raise CheckpointRefused("refused_signature", "MAC does not match")

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
