"""HMAC-SHA256 signatures on Kafka records, with key ids for rotation.

Guardian signs the records other replicas act on: detector checkpoints on
``guardian.state`` (:mod:`service.state.checkpoint`) and config documents on
``guardian.config`` (:mod:`service.control.signing`). Both use the same
scheme:

- headers ``guardian-sig`` (hex HMAC-SHA256) and ``guardian-kid`` (the id of
  the signing key, never the key);
- the MAC covers the length-prefixed record key and the exact value bytes,
  so a valid value cannot be moved under another key;
- it is checked with :func:`hmac.compare_digest` before anything parses the value.

Rotation: a :class:`RecordSigner` holds several keys by id; it signs with the
active one and verifies with any of them. Roll the new key out to every replica
as an extra key first, then make it active, then drop the old one once no record
signed with it is needed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Literal

from service.errors import GuardianError

SIGNATURE_HEADER = "guardian-sig"
KEY_ID_HEADER = "guardian-kid"
MIN_KEY_BYTES = 16

SignatureProblem = Literal["unsigned", "unknown_key", "bad_signature"]


class SignatureRefused(GuardianError):
    """A record whose signature does not check out; ``reason`` is a bounded label."""

    def __init__(self, reason: SignatureProblem, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: SignatureProblem = reason
        self.detail = detail


class RecordSigner:
    """Sign records with the active key; verify with any known key.

    Parameters
    ----------
    keys
        Key id -> key (each at least 16 bytes).
    active
        Id of the key new records are signed with.

    Examples
    --------
    >>> signer = RecordSigner({"k1": b"0123456789abcdef-demo"}, "k1")
    >>> headers = signer.sign(b"current", b"{}")
    >>> signer.verify(b"current", b"{}", headers)
    'k1'
    >>> signer.verify(b"v1", b"{}", headers)
    Traceback (most recent call last):
    ...
    service.signing.SignatureRefused: bad_signature: MAC does not match
    """

    def __init__(self, keys: Mapping[str, bytes], active: str) -> None:
        if active not in keys:
            raise ValueError(f"the active signing key id {active!r} is not among the keys")
        for kid, key in keys.items():
            if len(key) < MIN_KEY_BYTES:
                raise ValueError(f"signing key {kid!r} needs at least {MIN_KEY_BYTES} bytes")
        self._keys = dict(keys)
        self._active = active

    @property
    def key_id(self) -> str:
        """Id of the key new records are signed with."""
        return self._active

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    @staticmethod
    def mac(key: bytes, record_key: bytes, value: bytes) -> bytes:
        mac = hmac.new(key, digestmod=hashlib.sha256)
        mac.update(len(record_key).to_bytes(4, "big"))
        mac.update(record_key)
        mac.update(value)
        return mac.digest()

    def sign(self, record_key: bytes, value: bytes) -> list[tuple[str, bytes]]:
        """The headers that sign ``value`` under ``record_key``."""
        sig = self.mac(self._keys[self._active], record_key, value).hex().encode()
        return [(SIGNATURE_HEADER, sig), (KEY_ID_HEADER, self._active.encode())]

    def verify(self, record_key: bytes, value: bytes, headers: Iterable[tuple[str, bytes]]) -> str:
        """The id of the key that signed the record; raises :class:`SignatureRefused`."""
        found = dict(headers)
        kid, sig = found.get(KEY_ID_HEADER), found.get(SIGNATURE_HEADER)
        if kid is None or sig is None:
            raise SignatureRefused("unsigned", "no signature headers")
        key_id = kid.decode("ascii", "replace")
        key = self._keys.get(key_id)
        if key is None:
            raise SignatureRefused("unknown_key", "unknown key id")
        expected = self.mac(key, record_key, value).hex().encode()
        if not hmac.compare_digest(expected, sig):
            raise SignatureRefused("bad_signature", "MAC does not match")
        return key_id
