"""``/v1/audit`` and ``/v1/config``: who changed what, the versioned config, rollback.

The audit index is fed from ``guardian.audit`` so every replica answers for
changes made anywhere (the newest 10,000 records are kept in memory; the topic
keeps them all). ``POST /v1/config/rollback`` re-applies an earlier version's
content as a new version, so a rollback is itself versioned and audited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from service.api.auth import Principal, require
from service.api.context import commit
from service.api.errors import ApiError, responses
from service.api.ports import ConfigStorePort, config_store
from service.control.audit import AuditQuery, AuditRecord
from service.control.document import ConfigDocument

router = APIRouter(tags=["audit"])

Store = Annotated[ConfigStorePort, Depends(config_store)]


class AuditPage(BaseModel):
    items: list[AuditRecord]
    total: int
    limit: int
    offset: int


class VersionInfo(BaseModel):
    version: int
    updated_by: str
    updated_at: str
    comment: str


class VersionList(BaseModel):
    current: int
    items: list[VersionInfo] = Field(description="Known versions, newest first.")


class Rollback(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": 3}]})

    version: int = Field(ge=0, description="The version whose content becomes current again.")


def _since(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        text = value.astimezone(UTC).isoformat(timespec="milliseconds")
    except (OverflowError, ValueError):
        raise ApiError(422, "since: out of range") from None
    return text.replace("+00:00", "Z")


@router.get(
    "/v1/audit",
    summary="Audit records, newest first",
    response_model=AuditPage,
    responses=responses(401, 403, 422, 429),
)
async def list_audit(
    store: Store,
    _: Annotated[Principal, Depends(require("viewer"))],
    actor: Annotated[str | None, Query(max_length=64)] = None,
    object: Annotated[
        str | None,
        Query(
            max_length=1100, description="An object (``detector:<id>``) or a kind (``detector``)."
        ),
    ] = None,
    since: Annotated[
        datetime | None, Query(description="Only records at or after this time.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AuditPage:
    total, items = store.audit.query(
        AuditQuery(actor=actor, object=object, since=_since(since), limit=limit, offset=offset)
    )
    return AuditPage(items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/v1/config",
    summary="The config document this replica applies",
    response_model=ConfigDocument,
    responses=responses(401, 403, 429),
)
async def get_config(
    store: Store, _: Annotated[Principal, Depends(require("viewer"))]
) -> ConfigDocument:
    return store.current


@router.get(
    "/v1/config/versions",
    summary="Config versions known to this replica",
    response_model=VersionList,
    responses=responses(401, 403, 429),
)
async def list_versions(
    store: Store, _: Annotated[Principal, Depends(require("viewer"))]
) -> VersionList:
    docs = sorted(store.history.values(), key=lambda d: d.version, reverse=True)
    return VersionList(
        current=store.current.version,
        items=[
            VersionInfo(
                version=d.version,
                updated_by=d.updated_by,
                updated_at=d.updated_at,
                comment=d.comment,
            )
            for d in docs
        ],
    )


@router.post(
    "/v1/config/rollback",
    summary="Re-apply an earlier version's content as a new version (admin)",
    response_model=ConfigDocument,
    responses=responses(401, 403, 404, 422, 429, 503),
)
async def rollback(
    request: Request,
    store: Store,
    body: Rollback,
    principal: Annotated[Principal, Depends(require("admin"))],
) -> ConfigDocument:
    target = store.history.get(body.version)
    if target is None:
        raise ApiError(404, f"config version {body.version} is not known")

    def change(doc: ConfigDocument) -> dict[str, Any]:
        return {
            "redaction": target.redaction,
            "retention": target.retention,
            "detectors": target.detectors,
            "fairness": target.fairness,
            "performance": target.performance,
        }

    def view(doc: ConfigDocument) -> Any:
        return {"version": doc.version}

    after, _ = await commit(
        request, store, principal, "config", f"rollback_to_v{body.version}", change, view
    )
    return after
