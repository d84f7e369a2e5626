"""``/v1/models/{name}/performance``: estimated and realized performance, and its thresholds.

``GET /v1/models/{name}/performance``: estimates come from confidence-based
performance estimation (CBPE) on the calibrated scores of the model version's
window and need no label; realized values are computed on the labels joined so
far. ``calibration`` says how the scores were calibrated (or that they are
taken as calibrated, and why); ``segments`` holds the same per segment.
Answered by the replica that owns the model's partition; others answer 404.

``PUT /v1/models/{name}/performance/thresholds`` (admin) sets the model's
alert thresholds and hysteresis live: it becomes this model's own entry, first
in the ``performance`` section of the versioned config document (the other
settings copied from the entry that applied), audited and applied by every
replica with windows and calibrators kept.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from detectors.performance.config import MetricName, ModelPerformanceConfig, PerformanceConfig
from service.api.auth import Principal, require
from service.api.context import commit
from service.api.errors import ApiError, responses
from service.api.ports import ConfigStorePort, PerformanceViews, config_store, performance_views
from service.api.routes_models import glob_escape
from service.control.document import ConfigDocument
from service.control.live import parse_performance

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
    "segments": {
        "metadata.region=eu": {
            "window": {"events": 1800, "labelled": 400},
            "estimated": {"accuracy": {"value": 0.83, "lower": 0.81, "upper": 0.85}},
            "realized": {"accuracy": {"value": 0.82, "lower": 0.78, "upper": 0.86}},
            "alerts": {"accuracy": {"state": "breach", "breach_run": 3, "clear_run": 0}},
        }
    },
}

ModelName = Annotated[str, Path(min_length=1, max_length=256, pattern=r"^[^/]+$")]
Views = Annotated[PerformanceViews | None, Depends(performance_views)]
Store = Annotated[ConfigStorePort, Depends(config_store)]
_ALERTING = ("thresholds", "min_events", "breach_after", "clear_after", "clear_margin")


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
    segments: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per segment (<by>=<value>, config segments): window, estimated, "
        "realized and alerts, judged against the model's thresholds.",
    )


class Thresholds(BaseModel):
    """A model's alert settings for performance estimates; omitted fields keep theirs."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"thresholds": {"accuracy": 0.85, "roc_auc": 0.75}}]},
    )

    thresholds: dict[MetricName, Annotated[float, Field(ge=0.0, le=1.0)]] | None = Field(
        default=None,
        description="Metric -> lowest acceptable estimate; replaces the model's map "
        "({} removes every threshold).",
    )
    min_events: Annotated[int, Field(ge=1)] | None = None
    breach_after: Annotated[int, Field(ge=1)] | None = None
    clear_after: Annotated[int, Field(ge=1)] | None = None
    clear_margin: Annotated[float, Field(ge=0.0, le=0.5)] | None = None


class ThresholdsView(BaseModel):
    """The alert settings in force for a model, and the config entry they come from."""

    model: str
    entry: str | None = Field(description="The glob of the config entry that applies.")
    thresholds: dict[str, float]
    min_events: int
    breach_after: int
    clear_after: int
    clear_margin: float


@router.get(
    "/{name}/performance",
    summary="Estimated (no labels needed) and realized performance of a model version",
    response_model=PerformanceView,
    responses=responses(401, 403, 404, 429),
)
async def get_performance(
    views: Views,
    name: ModelName,
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


def _config_of(doc: ConfigDocument, views: PerformanceViews) -> PerformanceConfig:
    """The performance config of ``doc`` (the running one for a document without it)."""
    return views.config if doc.performance is None else parse_performance(doc.performance)


def _view(config: PerformanceConfig, name: str) -> dict[str, Any]:
    entry = config.for_model(name)
    settings = ModelPerformanceConfig() if entry is None else entry
    return {
        "model": name,
        "entry": None if entry is None else entry.model,
        **settings.model_dump(mode="json", include=set(_ALERTING)),
    }


def _running(views: PerformanceViews | None) -> PerformanceViews:
    if views is None:
        raise ApiError(404, "performance estimation does not run on this replica")
    return views


@router.get(
    "/{name}/performance/thresholds",
    summary="A model's performance alert thresholds and hysteresis in force",
    response_model=ThresholdsView,
    responses=responses(401, 403, 404, 429),
)
async def get_thresholds(
    views: Views,
    store: Store,
    name: ModelName,
    _: Annotated[Principal, Depends(require("viewer"))],
) -> Any:
    return _view(_config_of(store.current, _running(views)), name)


@router.put(
    "/{name}/performance/thresholds",
    summary="Set a model's performance alert thresholds (admin); audited, applied live",
    response_model=ThresholdsView,
    responses=responses(401, 403, 404, 422, 429, 503),
)
async def put_thresholds(
    request: Request,
    views: Views,
    store: Store,
    name: ModelName,
    body: Thresholds,
    principal: Annotated[Principal, Depends(require("admin"))],
) -> Any:
    running = _running(views)
    given = body.model_dump(mode="json", exclude_none=True)
    pattern = glob_escape(name)

    def change(doc: ConfigDocument) -> dict[str, Any]:
        config = _config_of(doc, running)
        data = config.model_dump(mode="json")
        models = [e for e in data["models"] if e["model"] != pattern]
        current = config.for_model(name)
        own = (current or ModelPerformanceConfig()).model_dump(mode="json")
        own.update(given, model=pattern)
        data["models"] = [own, *models]  # first: it wins over every glob
        parse_performance(data)  # 422 naming the field before anything changes
        return {"performance": data}

    after, _ = await commit(
        request,
        store,
        principal,
        f"model:{name}",
        "set_performance_thresholds",
        change,
        lambda doc: _view(_config_of(doc, running), name),
        observe=lambda: _view(running.config, name),  # in force before and after
    )
    return _view(_config_of(after, running), name)
