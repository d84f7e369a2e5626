"""``GET /v1/models/{name}/performance``: estimated and realized performance of a model version.

Estimates come from confidence-based performance estimation (CBPE) on the
calibrated scores of the model version's window and need no label; realized
values are computed on the labels joined so far. ``calibration`` says how the
scores were calibrated (or that they are taken as calibrated, and why).
Answered by the replica that owns the model's partition; others answer 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from service.api.auth import Principal, require
from service.api.errors import ApiError, responses
from service.api.ports import PerformanceViews, performance_views

router = APIRouter(prefix="/v1/models", tags=["models"])

_EXAMPLE: dict[str, Any] = {
    "model": "credit-risk",
    "version": "3.2.0",
    "versions": ["3.2.0"],
    "window": {
        "size": 5000,
        "events": 5000,
        "labelled": 1200,
        "excluded": {"missing": 0, "out_of_range": 3},
        "latest_event_at": 1767225600.0,
    },
    "estimated": {"accuracy": {"value": 0.91, "lower": 0.9, "upper": 0.92}},
    "realized": {"accuracy": {"value": 0.9, "lower": 0.88, "upper": 0.92}},
    "calibration": {"method": "isotonic", "fitted_on": 1200, "labels_available": 1200},
    "thresholds": {"accuracy": 0.85},
    "alerts": {"accuracy": {"state": "ok", "breach_run": 0, "clear_run": 2}},
}


class PerformanceView(BaseModel):
    """One model version's window, estimates, realized values and calibration."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    model: str
    version: str
    versions: list[str]
    window: dict[str, Any]
    estimated: dict[str, dict[str, Any]] = Field(
        description="CBPE estimate per metric: value, lower, upper (null with a reason)."
    )
    realized: dict[str, dict[str, Any]] = Field(
        description="Metric on the joined labels of the window (null with a reason)."
    )
    calibration: dict[str, Any]
    thresholds: dict[str, float]
    alerts: dict[str, dict[str, Any]]


@router.get(
    "/{name}/performance",
    summary="Estimated (no labels needed) and realized performance of a model version",
    response_model=PerformanceView,
    responses=responses(401, 403, 404, 429),
)
async def get_performance(
    views: Annotated[PerformanceViews | None, Depends(performance_views)],
    name: Annotated[str, Path(min_length=1, max_length=256, pattern=r"^[^/]+$")],
    _: Annotated[Principal, Depends(require("viewer"))],
    version: Annotated[
        str | None,
        Query(min_length=1, max_length=256, description="Default: the latest version seen."),
    ] = None,
) -> Any:
    view = None if views is None else views.snapshot(name, version)
    if view is None:
        raise ApiError(404, "no scored events of this model (version) on this replica")
    return view
