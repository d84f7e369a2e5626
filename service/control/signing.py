"""Signed config documents: only a holder of the group's key changes what every replica does.

Every record a replica writes to ``guardian.config`` carries the headers of
:mod:`service.signing` (HMAC-SHA256 over the record key and the exact value,
key id in ``guardian-kid``). A replica applies a document only if

1. it is signed (``unsigned``) by a key it knows (``unknown_key``) and the MAC
   matches (``bad_signature``) -- checked before the value is parsed;
2. it parses as a :class:`ConfigDocument` and sits under its own key
   (``current`` or ``v<its version>``) (``malformed``);
3. it is not a replay (``replayed``): a copy of an older document written again
   under ``current``. A document is replayed when both its version and its
   ``updated_at`` are below those of the newest document already read under the
   same record key. (Two replicas writing the same version at once, or a replica
   that had not yet seen a newer version, write documents that are older in one
   of the two only: those are simply not applied, as before. A history record
   ``v<N>`` holds one version only, so a copy of it is a harmless duplicate.)

Whatever passes is still applied only if it is newer than the applied document
(:meth:`ConfigDocument.order_key`), so no old document ever comes back into force.

Everything in a document, ``updated_by`` included, is inside the signed value;
no header or record field is trusted. Refusals are counted in
``guardian_config_refused_total{reason}`` and logged with the reason and the
record's position, never its content.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from typing import Literal

from pydantic import ValidationError

from service.control.document import CURRENT_KEY, ConfigDocument, history_key
from service.errors import GuardianError
from service.settings import ControlSettings
from service.signing import RecordSigner, SignatureRefused

log = logging.getLogger(__name__)

RefusalReason = Literal["unsigned", "bad_signature", "unknown_key", "replayed", "malformed"]
REFUSAL_REASONS: tuple[RefusalReason, ...] = (
    "unsigned",
    "bad_signature",
    "unknown_key",
    "replayed",
    "malformed",
)


class ConfigRefused(GuardianError):
    """A ``guardian.config`` record that must not be applied; ``reason`` is the metric label."""

    def __init__(self, reason: RefusalReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: RefusalReason = reason
        self.detail = detail


class ConfigCodec:
    """Sign config documents as they are written; verify and parse them as they are read.

    Examples
    --------
    >>> from service.signing import RecordSigner
    >>> codec = ConfigCodec(RecordSigner({"k1": b"0123456789abcdef-demo"}, "k1"))
    >>> codec.decode(b"current", b"{}", [])
    Traceback (most recent call last):
    ...
    service.control.signing.ConfigRefused: unsigned: no signature headers
    """

    def __init__(self, signer: RecordSigner, *, ephemeral: bool = False) -> None:
        self.signer = signer
        #: True when the key was made up for this process (no ``control.signing_keys``).
        self.ephemeral = ephemeral

    @classmethod
    def from_settings(cls, settings: ControlSettings) -> ConfigCodec:
        """The configured keys, or a random per-process key (with one warning) when none is."""
        if settings.active_signing_key is not None:
            keys = {
                kid: key.get_secret_value().encode() for kid, key in settings.signing_keys.items()
            }
            return cls(RecordSigner(keys, settings.active_signing_key))
        kid = f"ephemeral-{secrets.token_hex(4)}"
        log.warning(
            "config documents are signed with a random key of this process: config changes "
            "are not shared with other replicas nor re-applied after a restart. Set "
            "GUARDIAN_CONTROL__SIGNING_KEYS and GUARDIAN_CONTROL__ACTIVE_SIGNING_KEY (the same "
            "on every replica; see docs/security.md)"
        )
        return cls(RecordSigner({kid: secrets.token_bytes(32)}, kid), ephemeral=True)

    def encode(
        self, record_key: bytes, doc: ConfigDocument
    ) -> tuple[bytes, list[tuple[str, bytes]]]:
        """Value and signature headers of ``doc`` written under ``record_key``."""
        value = doc.model_dump_json().encode()
        return value, self.signer.sign(record_key, value)

    def decode(
        self,
        record_key: bytes | None,
        value: bytes,
        headers: Iterable[tuple[str, bytes]],
    ) -> ConfigDocument:
        """Verify, then parse one record; raises :class:`ConfigRefused`."""
        key = record_key or b""
        try:
            self.signer.verify(key, value, headers)
        except SignatureRefused as exc:
            raise ConfigRefused(exc.reason, exc.detail) from None
        try:
            doc = ConfigDocument.model_validate_json(value)
        except ValidationError:
            raise ConfigRefused("malformed", "not a config document") from None
        if key != CURRENT_KEY and key != history_key(doc.version):
            raise ConfigRefused("malformed", "record key is neither 'current' nor v<its version>")
        return doc


class ReplayGuard:
    """Remembers how far the documents accepted under each record key got (see the module doc)."""

    def __init__(self) -> None:
        #: record key -> (version, updated_at) of the newest document accepted under it
        self._newest: dict[bytes, tuple[int, str]] = {}

    def check(self, record_key: bytes, doc: ConfigDocument) -> None:
        """Raise ``ConfigRefused("replayed")`` if ``doc`` is an older copy; else remember it."""
        ref = self._newest.get(record_key)
        if ref is not None and doc.version < ref[0] and doc.updated_at < ref[1]:
            raise ConfigRefused("replayed", f"older than version {ref[0]}")
        mark = (doc.version, doc.updated_at)
        if ref is None or mark > ref:
            self._newest[record_key] = mark
