"""``/v1/models/{name}/reference``: a model's reference profile (issue 17).

``PUT`` (admin) stores a profile uploaded from training data: per feature a
quantile sketch or a histogram, or category frequencies (JSON, never rows). It
becomes part of the detector specs (``references``) in the versioned config,
so it is audited, signed and applied by every replica; budgeted numeric
detectors of the model (``rank_window``) then test against it. A profile that
does not validate is refused with 422 naming the field.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from detectors.drift.reference import ReferenceProfile
from service.api.auth import Principal, require
from service.api.context import commit
from service.api.errors import ApiError, responses
from service.api.routes_models import ModelName, Store
from service.control.document import ConfigDocument
from service.control.live import parse_specs

router = APIRouter(prefix="/v1/models", tags=["models"])


def _reference(specs: dict[str, Any], name: str) -> Any:
    return specs.get("references", {}).get(name)


def _summary(profile: Any) -> Any:
    """What the audit log keeps of a profile: its source and features, not the numbers."""
    if profile is None:
        return None
    return {"source": profile.get("source"), "features": sorted(profile.get("features", {}))}


@router.get(
    "/{name}/reference",
    summary="A model's reference profile (null when none was uploaded)",
    response_model=ReferenceProfile | None,
    responses=responses(401, 403, 429),
)
async def get_reference(
    store: Store, name: ModelName, _: Annotated[Principal, Depends(require("viewer"))]
) -> Any:
    return _reference(store.current.detectors.specs, name)


@router.put(
    "/{name}/reference",
    summary="Upload a model's reference profile (admin); budgeted detectors test against it",
    response_model=ReferenceProfile,
    responses=responses(401, 403, 422, 429, 503),
)
async def put_reference(
    request: Request,
    store: Store,
    name: ModelName,
    body: ReferenceProfile,
    principal: Annotated[Principal, Depends(require("admin"))],
) -> Any:
    given = body.model_dump(mode="json")

    def change(doc: ConfigDocument) -> dict[str, Any]:
        specs = dict(doc.detectors.specs)
        specs["references"] = {**specs.get("references", {}), name: given}
        parse_specs(specs)  # 422 (e.g. too many models with a profile) before anything changes
        return {"detectors": doc.detectors.model_copy(update={"specs": specs})}

    def view(doc: ConfigDocument) -> Any:
        return _summary(_reference(doc.detectors.specs, name))

    after, _ = await commit(
        request, store, principal, f"model:{name}", "set_reference", change, view
    )
    stored = _reference(after.detectors.specs, name)
    if stored is None:
        raise ApiError(500, "reference was not stored")
    return stored


@router.delete(
    "/{name}/reference",
    summary="Remove a model's reference profile (admin)",
    status_code=204,
    responses=responses(401, 403, 429, 503),
)
async def delete_reference(
    request: Request,
    store: Store,
    name: ModelName,
    principal: Annotated[Principal, Depends(require("admin"))],
) -> None:
    def change(doc: ConfigDocument) -> dict[str, Any]:
        specs = dict(doc.detectors.specs)
        specs["references"] = {k: v for k, v in specs.get("references", {}).items() if k != name}
        return {"detectors": doc.detectors.model_copy(update={"specs": specs})}

    def view(doc: ConfigDocument) -> Any:
        return _summary(_reference(doc.detectors.specs, name))

    await commit(request, store, principal, f"model:{name}", "delete_reference", change, view)
