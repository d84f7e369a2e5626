"""Audit records of control-plane changes and the bounded index that answers ``GET /v1/audit``.

Every mutating call writes one :class:`AuditRecord` (JSON) to ``guardian.audit``.
Each replica follows that topic from the beginning and keeps the newest
``capacity`` records in memory, so any replica can answer for a change made
through another. Records name the actor (token *name*, never the token), the
role, the route and the before/after of the object; callers pass only
configuration values, never event samples.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.control.document import utc_now


class AuditRecord(BaseModel):
    """One change, as written to ``guardian.audit`` and returned by ``GET /v1/audit``."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "id": "5f0c2b8a9d4e4f4c8f3a1b2c3d4e5f60",
                    "actor": "alice",
                    "role": "admin",
                    "at": "2026-11-30T12:00:00.000Z",
                    "method": "PATCH",
                    "route": "/v1/detectors/{detector_id}",
                    "path": "/v1/detectors/credit-risk/3.2.0/age/adwin",
                    "request_id": "req-42",
                    "object": "detector:credit-risk/3.2.0/age/adwin",
                    "action": "patch_params",
                    "before": {"delta": 1e-6},
                    "after": {"delta": 0.002},
                    "config_version": 4,
                }
            ]
        },
    )

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    actor: str
    role: str
    at: str = Field(default_factory=utc_now)
    method: str
    route: str
    path: str
    request_id: str
    object: str
    action: str
    before: Any = None
    after: Any = None
    #: Config version the change produced (``None`` for alert acks, silences, resets).
    config_version: int | None = None
    #: What the caller should know beyond before/after: a policy stored under a new
    #: version, an override of unsafe settings and its reason.
    notes: list[str] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of :meth:`AuditIndex.query` (all optional, combined with AND)."""

    actor: str | None = None
    object: str | None = None
    since: str | None = None
    limit: int = 50
    offset: int = 0


class AuditIndex:
    """The newest ``capacity`` audit records by id, in the order they were learnt.

    Records written by this replica are added at once and again when they come
    back from the topic; the id makes the second add a no-op.

    Examples
    --------
    >>> index = AuditIndex(capacity=2)
    >>> for n in range(3):
    ...     index.add(AuditRecord(id=str(n), actor="a", role="admin", method="PUT", route="/r",
    ...                           path="/r", request_id="x", object="o", action="put"))
    >>> [r.id for r in index.query(AuditQuery())[1]]
    ['2', '1']
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._records: OrderedDict[str, AuditRecord] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: AuditRecord) -> None:
        if record.id in self._records:
            return
        self._records[record.id] = record
        while len(self._records) > self.capacity:
            self._records.popitem(last=False)

    def add_json(self, raw: bytes) -> bool:
        """Add a record read from the topic; a malformed one is skipped (returns False)."""
        try:
            record = AuditRecord.model_validate_json(raw)
        except ValueError:
            return False
        self.add(record)
        return True

    def query(self, q: AuditQuery) -> tuple[int, list[AuditRecord]]:
        """Matching records newest first: (total matching, requested page)."""
        matching = [
            r
            for r in reversed(self._records.values())
            if (q.actor is None or r.actor == q.actor)
            and (q.object is None or r.object == q.object or r.object.startswith(q.object + ":"))
            and (q.since is None or r.at >= q.since)
        ]
        return len(matching), matching[q.offset : q.offset + q.limit]
