"""The versioned configuration document every replica applies.

One document holds everything an admin can change at runtime: the redaction
and retention policies, the detector specs plus per-detector parameter patches,
the fairness config and the performance config (per-model thresholds). Sections
are stored as plain JSON (the policies' own file format), so a document read
back from Kafka is validated by the same code that validates a file or a PUT body.

Ordering (optimistic concurrency): a change takes ``version = current + 1``.
Two replicas writing at the same moment can both produce version N; every
replica then keeps the document with the greatest
``(version, updated_at, origin)``, so all converge on the same one (the other
change is lost, but its audit record remains and it can be re-applied).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

CURRENT_KEY = b"current"


def history_key(version: int) -> bytes:
    """Kafka key of a version in the compacted config topic (kept for rollback)."""
    return f"v{version}".encode()


def utc_now() -> str:
    """RFC 3339 UTC timestamp with milliseconds (sorts as text)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DetectorConfig(BaseModel):
    """Detector specs (``config/detectors.yaml`` format) and live parameter patches.

    ``patches`` maps a detector id to the parameters changed through
    ``PATCH /v1/detectors/{id}``; every replica applies them to that detector
    whenever it exists there (now or once its stream appears).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    specs: dict[str, Any]
    patches: dict[str, dict[str, Any]] = Field(default_factory=dict)


class ConfigDocument(BaseModel):
    """One version of Guardian's live configuration."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "version": 3,
                    "redaction": {"score_threshold": 0.4},
                    "retention": {
                        "default_class": "standard",
                        "classes": {"standard": {"duration": "30d"}},
                    },
                    "detectors": {
                        "specs": {"version": 1},
                        "patches": {"credit-risk/3.2.0/age/adwin": {"delta": 0.002}},
                    },
                    "fairness": None,
                    "performance": None,
                    "updated_by": "alice",
                    "updated_at": "2026-11-30T12:00:00.000Z",
                    "origin": "replica-a",
                    "comment": "PATCH /v1/detectors/credit-risk/3.2.0/age/adwin",
                }
            ]
        },
    )

    version: int = Field(ge=0)
    redaction: dict[str, Any]
    retention: dict[str, Any]
    detectors: DetectorConfig
    fairness: dict[str, Any] | None = None
    #: ``config/performance.yaml`` form; None in documents written before it was live.
    performance: dict[str, Any] | None = None
    updated_by: str
    updated_at: str
    #: Unique id of the Guardian instance that wrote this version (tie-break of equal versions).
    origin: str = ""
    comment: str = ""

    def order_key(self) -> tuple[int, str, str]:
        """Total order of documents: the greatest wins on every replica."""
        return (self.version, self.updated_at, self.origin)

    def successor(
        self, base_version: int, actor: str, origin: str, **changes: Any
    ) -> ConfigDocument:
        """The next version with ``changes`` applied, attributed to ``actor``."""
        return self.model_copy(
            update={
                **changes,
                "version": base_version + 1,
                "updated_by": actor,
                "updated_at": utc_now(),
                "origin": origin,
            }
        )
