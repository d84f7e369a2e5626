"""Runtime settings of the redaction stage (mounted as ``GuardianSettings.redaction``).

Secrets (HMAC keys) live here, not in the policy: the policy is shared through
``guardian.config`` and shown on the control plane, keys never are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class RedactionSettings(BaseModel):
    """How the redactor runs: policy file, pseudonymisation keys, workers, NER model.

    Set from the environment as ``GUARDIAN_REDACTION__<FIELD>``, e.g.
    ``GUARDIAN_REDACTION__HMAC_KEYS='{"k1": "..."}'`` and
    ``GUARDIAN_REDACTION__ACTIVE_HMAC_KEY=k1``.

    Examples
    --------
    >>> s = RedactionSettings(hmac_keys={"k1": "s3cret"}, active_hmac_key="k1")
    >>> s.hmac_keys["k1"]
    SecretStr('**********')
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy_file: Path = Path("config/redaction.yaml")
    #: Key id -> key. Old ids stay listed after a rotation so old pseudonyms can be recomputed.
    hmac_keys: dict[str, SecretStr] = Field(default_factory=dict)
    #: Key id used for new pseudonyms; it appears in every pseudonym (rotation by key id).
    active_hmac_key: str | None = None
    #: Analysis processes (threads do not help under the GIL); 0 analyses in-process.
    workers: int = Field(default=2, ge=0, le=64)
    #: spaCy pipeline for names and places (policy ``ner_paths``): an installed package name
    #: or a pipeline path; ``auto`` is the one ``make install`` pins, where installed;
    #: ``None`` turns NER off. Never downloaded.
    spacy_model: str | None = "auto"
    #: Per-batch analysis deadline; a batch past it fails closed (events go to the DLQ).
    timeout_s: float = Field(default=10.0, gt=0)
    #: Distinct texts whose findings are remembered (keyed by text hash and policy version).
    cache_size: int = Field(default=20_000, ge=0)
    #: Texts sent to a worker process in one task; smaller balances better, larger costs less IPC.
    chunk_size: int = Field(default=64, ge=1)
    #: Presidio's analysis through Guardian's fast path, which uses Presidio internals
    #: (:mod:`service.redaction.presidio_compat`): ``auto`` when the installed
    #: presidio-analyzer is the verified version, else Presidio's public API (logged);
    #: ``on`` refuses to start with another version; ``off`` always the public API.
    fast_path: Literal["auto", "on", "off"] = "auto"

    @model_validator(mode="after")
    def _active_key_exists(self) -> RedactionSettings:
        if self.active_hmac_key is not None and self.active_hmac_key not in self.hmac_keys:
            raise ValueError(
                f"active_hmac_key {self.active_hmac_key!r} is not a key id of hmac_keys "
                f"(known ids: {sorted(self.hmac_keys)})"
            )
        for key_id, key in self.hmac_keys.items():
            if not key.get_secret_value():
                raise ValueError(f"hmac_keys[{key_id!r}] is empty")
            if ":" in key_id or not key_id:
                raise ValueError(f"hmac key id {key_id!r} must be non-empty and contain no ':'")
        return self
