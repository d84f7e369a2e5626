"""``POST /v1/detectors/backtest``: replay a model's sanitized events through a proposed config.

Operators and admins tune with evidence: the model's events since ``since``
(``"1h"`` or an ISO time) are read back from the retention topics
(``inference.sanitized.<class>``) by a group-less consumer, off the pipeline,
and fed to fresh detectors of the proposed ``detectors`` specs (the live specs
when omitted). Bounded: at most ``max_events`` events (200,000 by default) and
``timeout_s`` seconds of reading; the answer says when it was cut short.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from service.alerting.rules import parse_duration
from service.api.auth import Principal, require
from service.api.errors import ApiError, invalid, responses
from service.api.ports import Backtester, backtester
from service.control.live import ConfigInvalid, parse_specs

router = APIRouter(prefix="/v1/detectors", tags=["detectors"])


class BacktestRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "model": "credit-risk",
                    "since": "1h",
                    "detectors": {"defaults": {"numeric": [{"kind": "rank_window"}]}},
                }
            ]
        },
    )

    model: str = Field(min_length=1, max_length=256)
    since: str = Field(default="1h", min_length=1, max_length=64, description='"1h" or ISO time.')
    detectors: dict[str, Any] | None = Field(default=None, description="detectors.yaml form.")
    max_events: int = Field(default=200_000, ge=1, le=1_000_000)
    timeout_s: float = Field(default=20.0, gt=0, le=120)


class BacktestResponse(BaseModel):
    events: int
    alerts: list[dict[str, Any]]
    alarm_rate: float = Field(description="Detections per day of replayed event time.")
    span_seconds: float
    truncated: bool


def since_ms(value: str, now: float) -> int:
    """Start of the replay in ms since the epoch, from ``"1h"`` or an ISO 8601 time."""
    try:
        return max(0, int((now - parse_duration(value)) * 1000))
    except (ValueError, OverflowError):
        pass
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return max(0, int(at.timestamp() * 1000))
    except (ValueError, OverflowError, OSError):
        raise invalid([f"since: {value!r} is neither a duration (1h) nor an ISO time"]) from None


@router.post(
    "/backtest",
    summary="Replay a model's sanitized events through proposed detectors (operator)",
    response_model=BacktestResponse,
    responses=responses(401, 403, 422, 429, 503),
)
async def post_backtest(
    body: BacktestRequest,
    runner: Annotated[Backtester | None, Depends(backtester)],
    _: Annotated[Principal, Depends(require("operator"))],
) -> Any:
    if runner is None:
        raise ApiError(503, "backtest: no Kafka behind this API")
    try:
        specs = None if body.detectors is None else parse_specs(body.detectors)
    except ConfigInvalid as exc:
        raise invalid(exc.problems) from None
    start = since_ms(body.since, time.time())
    return await runner.backtest(body.model, start, specs, body.max_events, body.timeout_s)
