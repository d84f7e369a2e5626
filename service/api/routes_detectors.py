"""``/v1/detectors``: list, inspect, tune and reset the group's drift detectors.

Detectors live where their model's partition is consumed; every replica
answers for all of them from the heartbeats on the membership topic
(:mod:`service.fleet`), each detector with the replica that holds it. A params
change is a config change: validated against the kind's schema, versioned on
``guardian.config`` and applied by every replica to that detector whenever it
exists there, so a PATCH through any replica reaches the holder. A reset of a
detector held elsewhere is a request on the membership topic, carried out by
its holder (202).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from detectors.registry import DetectorInfo, UnknownDetectorError
from service.api.auth import Principal, require
from service.api.context import commit, record
from service.api.errors import ApiError, invalid, responses
from service.api.ports import (
    ConfigStorePort,
    DetectorAdmin,
    FleetPort,
    config_store,
    detector_admin,
    fleet_port,
)
from service.control.document import ConfigDocument
from service.control.live import validate_patch
from service.control.policies import ConfigInvalid
from service.fleet.records import DetectorSummary

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
    replica: str | None = Field(
        default=None, description="The replica that holds it (None: no fleet view)."
    )
    reported_at: float | None = Field(
        default=None,
        description="Held elsewhere: Unix time of the holder's summary shown here; "
        "None: read live from the replica that answered.",
    )

    @classmethod
    def of(cls, info: DetectorInfo, fleet: FleetPort | None) -> Detector:
        return cls(**asdict(info), replica=fleet.replica_id if fleet is not None else None)

    @classmethod
    def remote(
        cls, held: tuple[str, DetectorSummary, float], patches: dict[str, Any] | None
    ) -> Detector:
        """A detector of another replica: its last summary, with the params already
        committed on ``guardian.config`` (its holder applies them within seconds)."""
        holder, summary, at = held
        data = summary.model_dump()
        data["params"] = {**summary.params, **(patches or {})}
        return cls(**data, replica=holder, reported_at=at)


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
Fleet = Annotated[FleetPort | None, Depends(fleet_port)]


def _get(detectors: DetectorAdmin, detector_id: str) -> DetectorInfo:
    try:
        return detectors.get(detector_id)
    except UnknownDetectorError:
        raise ApiError(404, "no such detector on this replica") from None


def _find(
    detectors: DetectorAdmin, fleet: FleetPort | None, detector_id: str
) -> DetectorInfo | tuple[str, DetectorSummary, float]:
    """This replica's detector, else the newest summary of its holder; 404 when nobody has it."""
    try:
        return detectors.get(detector_id)
    except UnknownDetectorError:
        held = fleet.holder_of(detector_id) if fleet is not None else None
        if held is None:
            raise ApiError(404, "no such detector on any live replica") from None
        return held


def _show(
    found: DetectorInfo | tuple[str, DetectorSummary, float],
    fleet: FleetPort | None,
    store: ConfigStorePort,
) -> Detector:
    if isinstance(found, DetectorInfo):
        return Detector.of(found, fleet)
    return Detector.remote(found, store.current.detectors.patches.get(found[1].id))


def _matches(d: DetectorSummary, filters: tuple[str | None, ...]) -> bool:
    wanted = zip((d.model, d.version, d.feature, d.kind), filters, strict=True)
    return all(f is None or value == f for value, f in wanted)


@router.get(
    "",
    summary="List the group's detectors, each with its replica (filters, paging)",
    response_model=DetectorPage,
    responses=responses(401, 403, 422, 429),
)
async def list_detectors(
    detectors: Detectors,
    fleet: Fleet,
    store: Store,
    _: Annotated[Principal, Depends(require("viewer"))],
    model: Annotated[str | None, Query(max_length=256)] = None,
    version: Annotated[str | None, Query(max_length=256)] = None,
    feature: Annotated[str | None, Query(max_length=256)] = None,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> DetectorPage:
    here = detectors.list_detectors(model, version, feature, kind)
    found: list[DetectorInfo | tuple[str, DetectorSummary, float]] = list(here)
    if fleet is not None:
        held_here = {d.id for d in here}
        filters = (model, version, feature, kind)
        found.extend(
            held
            for held in fleet.remote_detectors()
            if held[1].id not in held_here and _matches(held[1], filters)
        )
    found.sort(key=lambda f: (f.id, "") if isinstance(f, DetectorInfo) else (f[1].id, f[0]))
    page = [_show(f, fleet, store) for f in found[offset : offset + limit]]
    return DetectorPage(items=page, total=len(found), limit=limit, offset=offset)


@router.get(
    "/{detector_id:path}",
    summary="One detector, wherever it is held",
    response_model=Detector,
    responses=responses(401, 403, 404, 429),
)
async def get_detector(
    detectors: Detectors,
    fleet: Fleet,
    store: Store,
    detector_id: DetectorId,
    _: Annotated[Principal, Depends(require("viewer"))],
) -> Detector:
    return _show(_find(detectors, fleet, detector_id), fleet, store)


@router.patch(
    "/{detector_id:path}",
    summary="Change some params of a detector (admin); applied live on every replica",
    response_model=Detector,
    responses=responses(401, 403, 404, 422, 429, 503),
)
async def patch_detector(
    request: Request,
    detectors: Detectors,
    fleet: Fleet,
    store: Store,
    detector_id: DetectorId,
    body: ParamsPatch,
    principal: Annotated[Principal, Depends(require("admin"))],
) -> Detector:
    found = _find(detectors, fleet, detector_id)
    info = found if isinstance(found, DetectorInfo) else found[1]
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
        if isinstance(found, DetectorInfo):
            return _get(detectors, detector_id).params
        return full  # what its holder applies when it reads this version

    await commit(
        request, store, principal, f"detector:{detector_id}", "patch_params", change, view, params
    )
    if isinstance(found, DetectorInfo):
        return Detector.of(_get(detectors, detector_id), fleet)
    return _show(found, fleet, store)


@router.post(
    "/{detector_id:path}/reset",
    summary="Forget what a detector learnt (operator); 202 when another replica holds it",
    response_model=Detector,
    responses=responses(401, 403, 404, 429, 503),
)
async def reset_detector(
    request: Request,
    response: Response,
    detectors: Detectors,
    fleet: Fleet,
    store: Store,
    detector_id: DetectorId,
    principal: Annotated[Principal, Depends(require("operator"))],
) -> Detector:
    found = _find(detectors, fleet, detector_id)
    obj = f"detector:{detector_id}"
    if isinstance(found, DetectorInfo):
        after = detectors.reset(detector_id)
        await record(request, store, principal, obj, "reset", found.state, after.state)
        return Detector.of(after, fleet)
    assert fleet is not None  # a summary of another replica comes from the fleet view
    holder = found[0]
    try:
        await fleet.request_reset(detector_id, holder)
    except (KafkaError, TimeoutError) as exc:
        raise ApiError(
            503, f"the reset could not be sent to {holder} ({type(exc).__name__})"
        ) from None
    await record(request, store, principal, obj, "reset", found[1].state, {"requested_of": holder})
    response.status_code = 202  # its holder resets it when it reads the request
    return _show(found, fleet, store)
