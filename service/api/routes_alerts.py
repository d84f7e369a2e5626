"""``/v1/alerts`` and ``/v1/silences``: read alerts, acknowledge them, mute notifications.

Alerts are raised by the replica that owns the model's partition, so each
replica lists and acknowledges its own; silences are held per replica too
(create one on each replica, or through a load balancer's sticky session).
With an Alertmanager configured, each silence is also copied there (and expired
there when deleted here), so it mutes the Prometheus rules' alerts as well
(:mod:`service.alerting.am_silences`). Acknowledgements and silence changes are audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.alerting.model import (
    Alert,
    AlertFilter,
    AlertNotFound,
    AlertState,
    Matcher,
    Silence,
    SilenceNotFound,
)
from service.api.auth import Principal, require
from service.api.context import record
from service.api.errors import ApiError, invalid, responses
from service.api.ports import AlertAdmin, ConfigStorePort, alert_admin, config_store
from service.validation import describe_lines

router = APIRouter(tags=["alerts"])

Id = Annotated[str, Path(min_length=1, max_length=128)]
Alerts = Annotated[AlertAdmin, Depends(alert_admin)]
Store = Annotated[ConfigStorePort, Depends(config_store)]


class AlertPage(BaseModel):
    items: list[Alert]
    total: int
    limit: int
    offset: int


class SilenceRequest(BaseModel):
    """Mute notifications of alerts matching every matcher until ``ends_at``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "matchers": [{"name": "model", "value": "credit-risk"}],
                    "ends_at": "2026-11-30T14:00:00Z",
                    "comment": "retraining credit-risk",
                }
            ]
        },
    )

    matchers: list[Matcher] = Field(min_length=1, max_length=32)
    ends_at: datetime
    starts_at: datetime | None = None
    comment: str = Field(default="", max_length=1024)


class SilenceList(BaseModel):
    items: list[Silence]


def _epoch(value: datetime) -> float:
    if value.tzinfo is None:
        raise ApiError(422, "timestamps need a time zone (e.g. a trailing Z)")
    try:
        return value.timestamp()
    except (OverflowError, OSError, ValueError):
        raise ApiError(422, "timestamp out of range") from None


@router.get(
    "/v1/alerts",
    summary="Alerts of this replica, newest first",
    response_model=AlertPage,
    responses=responses(401, 403, 422, 429),
)
async def list_alerts(
    engine: Alerts,
    _: Annotated[Principal, Depends(require("viewer"))],
    state: AlertState | None = None,
    alertname: Annotated[str | None, Query(max_length=256)] = None,
    model: Annotated[str | None, Query(max_length=256)] = None,
    severity: Annotated[str | None, Query(max_length=256)] = None,
    acknowledged: bool | None = None,
    silenced: bool | None = None,
    include_resolved: bool = True,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> AlertPage:
    f = AlertFilter(
        state=state,
        alertname=alertname,
        model=model,
        severity=severity,
        acknowledged=acknowledged,
        silenced=silenced,
        include_resolved=include_resolved,
    )
    alerts = engine.list_alerts(f)
    return AlertPage(
        items=alerts[offset : offset + limit], total=len(alerts), limit=limit, offset=offset
    )


@router.get(
    "/v1/alerts/{alert_id}",
    summary="One alert",
    response_model=Alert,
    responses=responses(401, 403, 404, 429),
)
async def get_alert(
    engine: Alerts, alert_id: Id, _: Annotated[Principal, Depends(require("viewer"))]
) -> Alert:
    try:
        return engine.get_alert(alert_id)
    except AlertNotFound:
        raise ApiError(404, "no such alert on this replica") from None


@router.post(
    "/v1/alerts/{alert_id}/ack",
    summary="Acknowledge an alert (operator)",
    response_model=Alert,
    responses=responses(401, 403, 404, 429, 503),
)
async def ack_alert(
    request: Request,
    engine: Alerts,
    store: Store,
    alert_id: Id,
    principal: Annotated[Principal, Depends(require("operator"))],
) -> Alert:
    try:
        before = engine.get_alert(alert_id)
        after = engine.ack(alert_id, principal.name)
    except AlertNotFound:
        raise ApiError(404, "no such alert on this replica") from None
    fields = ("state", "acknowledged_by", "acknowledged_at")
    await record(
        request,
        store,
        principal,
        f"alert:{alert_id}",
        "ack",
        before.model_dump(mode="json", include=set(fields)),
        after.model_dump(mode="json", include=set(fields)),
    )
    return after


@router.get(
    "/v1/silences",
    summary="Silences of this replica",
    response_model=SilenceList,
    responses=responses(401, 403, 422, 429),
)
async def list_silences(
    engine: Alerts,
    _: Annotated[Principal, Depends(require("viewer"))],
    include_expired: bool = False,
) -> SilenceList:
    return SilenceList(items=engine.list_silences(include_expired))


@router.post(
    "/v1/silences",
    summary="Create a silence (operator)",
    response_model=Silence,
    status_code=201,
    responses=responses(401, 403, 422, 429, 503),
)
async def create_silence(
    request: Request,
    engine: Alerts,
    store: Store,
    body: SilenceRequest,
    principal: Annotated[Principal, Depends(require("operator"))],
) -> Silence:
    ends = _epoch(body.ends_at)
    starts = _epoch(body.starts_at) if body.starts_at is not None else None
    try:
        silence = engine.add_silence(
            body.matchers, ends, principal.name, body.comment, starts_at=starts
        )
    except ValidationError as exc:
        raise invalid(describe_lines(exc)) from None
    except ValueError as exc:
        raise ApiError(409, str(exc)) from None
    await record(
        request,
        store,
        principal,
        f"silence:{silence.id}",
        "create",
        None,
        silence.model_dump(mode="json"),
    )
    return silence


@router.delete(
    "/v1/silences/{silence_id}",
    summary="Delete a silence (operator)",
    response_model=Silence,
    responses=responses(401, 403, 404, 429, 503),
)
async def delete_silence(
    request: Request,
    engine: Alerts,
    store: Store,
    silence_id: Id,
    principal: Annotated[Principal, Depends(require("operator"))],
) -> Any:
    try:
        silence = engine.delete_silence(silence_id)
    except SilenceNotFound:
        raise ApiError(404, "no such silence") from None
    await record(
        request,
        store,
        principal,
        f"silence:{silence_id}",
        "delete",
        silence.model_dump(mode="json"),
        None,
    )
    return silence
