"""``/v1/detectors``: list, inspect, tune and reset this replica's drift detectors.

Detectors live where their model's partition is consumed, so each replica
lists its own. A params change is a config change: validated against the
kind's schema, versioned on ``guardian.config`` and applied by every replica
to that detector whenever it exists there.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from detectors.registry import DetectorInfo, UnknownDetectorError
from service.api.auth import Principal, require
from service.api.context import commit, record
from service.api.errors import ApiError, invalid, responses
from service.api.ports import ConfigStorePort, DetectorAdmin, config_store, detector_admin
from service.control.document import ConfigDocument
from service.control.live import validate_patch
from service.control.policies import ConfigInvalid

router = APIRouter(prefix="/v1/detectors", tags=["detectors"])

_EXAMPLE: dict[str, Any] = {
    "id": "credit-risk/3.2.0/age/adwin",
    "model": "credit-risk",
    "version": "3.2.0",
    "feature": "age",
    "type": "numeric",
    "kind": "adwin",
    "params": {"delta": 1e-6, "clock": 32, "warm_up": 0, "min_samples": 200, "cooldown": 1000},
    "state": {"n_seen": 5120, "n_detections": 0, "statistic": 41.2, "drift_detected": False},
}

DetectorId = Annotated[
    str,
    Path(
        description="``<model>/<version>/<stream>/<kind>``; slashes are part of the id.",
        examples=["credit-risk/3.2.0/age/adwin"],
        max_length=1024,
    ),
]


class Detector(BaseModel):
    """One detector: where it watches, its parameters and its state (no event values)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    id: str
    model: str
    version: str
    feature: str
    type: str
    kind: str
    params: dict[str, Any]
    state: dict[str, float | int | bool]

    @classmethod
    def of(cls, info: DetectorInfo) -> Detector:
        return cls(**asdict(info))


class DetectorPage(BaseModel):
    items: list[Detector]
    total: int = Field(description="Detectors matching the filters.")
    limit: int
    offset: int


class ParamsPatch(BaseModel):
    """A partial params change; unknown or out-of-range names are rejected, nothing changes."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"params": {"delta": 0.002}}]}
    )

    params: dict[str, Any] = Field(min_length=1, max_length=64)


Detectors = Annotated[DetectorAdmin, Depends(detector_admin)]
Store = Annotated[ConfigStorePort, Depends(config_store)]


def _get(detectors: DetectorAdmin, detector_id: str) -> DetectorInfo:
    try:
        return detectors.get(detector_id)
    except UnknownDetectorError:
        raise ApiError(404, "no such detector on this replica") from None


@router.get(
    "",
    summary="List this replica's detectors (filters, paging)",
    response_model=DetectorPage,
    responses=responses(401, 403, 422, 429),
)
async def list_detectors(
    detectors: Detectors,
    _: Annotated[Principal, Depends(require("viewer"))],
    model: Annotated[str | None, Query(max_length=256)] = None,
    version: Annotated[str | None, Query(max_length=256)] = None,
    feature: Annotated[str | None, Query(max_length=256)] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> DetectorPage:
    found = detectors.list_detectors(model, version, feature, kind)
    page = [Detector.of(d) for d in found[offset : offset + limit]]
    return DetectorPage(items=page, total=len(found), limit=limit, offset=offset)


@router.get(
    "/{detector_id:path}",
    summary="One detector",
    response_model=Detector,
    responses=responses(401, 403, 404, 429),
)
async def get_detector(
    detectors: Detectors,
    detector_id: DetectorId,
    _: Annotated[Principal, Depends(require("viewer"))],
) -> Detector:
    return Detector.of(_get(detectors, detector_id))


@router.patch(
    "/{detector_id:path}",
    summary="Change some params of a detector (admin); applied live on every replica",
    response_model=Detector,
    responses=responses(401, 403, 404, 422, 429, 503),
)
async def patch_detector(
    request: Request,
    detectors: Detectors,
    store: Store,
    detector_id: DetectorId,
    body: ParamsPatch,
    principal: Annotated[Principal, Depends(require("admin"))],
) -> Detector:
    info = _get(detectors, detector_id)
    try:
        full = validate_patch(info.kind, info.params, body.params)
    except ConfigInvalid as exc:
        raise invalid(exc.problems) from None
    changed = {k: full[k] for k in body.params}

    def change(doc: ConfigDocument) -> dict[str, Any]:
        patches = dict(doc.detectors.patches)
        patches[detector_id] = {**patches.get(detector_id, {}), **changed}
        return {"detectors": doc.detectors.model_copy(update={"patches": patches})}

    def view(doc: ConfigDocument) -> Any:
        return doc.detectors.patches.get(detector_id)

    def params() -> dict[str, Any]:
        return _get(detectors, detector_id).params

    await commit(
        request, store, principal, f"detector:{detector_id}", "patch_params", change, view, params
    )
    return Detector.of(_get(detectors, detector_id))


@router.post(
    "/{detector_id:path}/reset",
    summary="Forget what a detector learnt (operator)",
    response_model=Detector,
    responses=responses(401, 403, 404, 429, 503),
)
async def reset_detector(
    request: Request,
    detectors: Detectors,
    store: Store,
    detector_id: DetectorId,
    principal: Annotated[Principal, Depends(require("operator"))],
) -> Detector:
    before = _get(detectors, detector_id)
    after = detectors.reset(detector_id)
    await record(
        request, store, principal, f"detector:{detector_id}", "reset", before.state, after.state
    )
    return Detector.of(after)
