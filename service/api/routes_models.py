"""``/v1/models``: models and versions seen, and per-model default detectors.

``PUT /v1/models/{name}/detectors`` sets which detectors watch each feature type
of that model, replacing the global ``defaults`` for it (feature-specific
overrides in the specs still win). It becomes part of the detector specs in
the versioned config and is applied live (``DetectorRegistry.replace_specs``):
streams whose detectors change get fresh ones.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.api.auth import Principal, require
from service.api.context import commit
from service.api.errors import ApiError, responses
from service.api.ports import (
    ConfigStorePort,
    DetectorAdmin,
    ModelCatalog,
    config_store,
    detector_admin,
    model_catalog,
)
from service.control.document import ConfigDocument
from service.control.live import parse_specs

router = APIRouter(prefix="/v1/models", tags=["models"])

Store = Annotated[ConfigStorePort, Depends(config_store)]

FEATURE_TYPES = ("numeric", "categorical", "score", "prediction", "missing", "error")

ModelName = Annotated[
    str, Path(min_length=1, max_length=256, examples=["credit-risk"], pattern=r"^[^/]+$")
]


def glob_escape(name: str) -> str:
    """A glob matching exactly ``name`` (the specs match model names with fnmatch)."""
    return re.sub(r"([*?\[])", r"[\1]", name)


class DetectorSpecBody(BaseModel):
    """One detector to run: its kind, params and guards (validated against the kind)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, max_length=64, examples=["adwin"])
    params: dict[str, Any] = Field(default_factory=dict, max_length=64)
    warm_up: int | None = Field(default=None, ge=0)
    min_samples: int | None = Field(default=None, ge=0)
    cooldown: int | None = Field(default=None, ge=0)


class ModelDetectors(BaseModel):
    """Detectors per feature type for one model; omitted types keep the global defaults."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "numeric": [{"kind": "page_hinkley", "params": {"threshold": 50.0}}],
                    "categorical": [{"kind": "categorical", "params": {"threshold": 0.2}}],
                }
            ]
        },
    )

    numeric: list[DetectorSpecBody] | None = Field(default=None, min_length=1, max_length=8)
    categorical: list[DetectorSpecBody] | None = Field(default=None, min_length=1, max_length=8)
    score: list[DetectorSpecBody] | None = Field(default=None, min_length=1, max_length=8)
    prediction: list[DetectorSpecBody] | None = Field(default=None, min_length=1, max_length=8)
    missing: list[DetectorSpecBody] | None = Field(default=None, min_length=1, max_length=8)
    error: list[DetectorSpecBody] | None = Field(default=None, min_length=1, max_length=8)

    @model_validator(mode="after")
    def _some(self) -> ModelDetectors:
        if all(getattr(self, t) is None for t in FEATURE_TYPES):
            raise ValueError(f"give detectors for at least one of {', '.join(FEATURE_TYPES)}")
        return self


class ModelInfo(BaseModel):
    name: str
    versions: list[str]
    detectors: int = Field(description="Detectors of this model on this replica.")
    defaults: dict[str, list[dict[str, Any]]] | None = Field(
        description="Per-model default detectors set with PUT, if any."
    )


class ModelList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "name": "credit-risk",
                            "versions": ["3.2.0"],
                            "detectors": 12,
                            "defaults": None,
                        }
                    ]
                }
            ]
        }
    )

    items: list[ModelInfo]


def _is_model_default(override: dict[str, Any], pattern: str) -> bool:
    return (
        override.get("model") == pattern
        and override.get("feature", "*") == "*"
        and override.get("type") is not None
    )


def model_defaults(specs: dict[str, Any], name: str) -> dict[str, list[dict[str, Any]]] | None:
    pattern = glob_escape(name)
    found = {
        o["type"]: o["detectors"]
        for o in specs.get("overrides", [])
        if _is_model_default(o, pattern)
    }
    return found or None


@router.get(
    "",
    summary="Models and versions seen by this replica",
    response_model=ModelList,
    responses=responses(401, 403, 429),
)
async def list_models(
    store: Store,
    detectors: Annotated[DetectorAdmin, Depends(detector_admin)],
    catalog: Annotated[ModelCatalog, Depends(model_catalog)],
    _: Annotated[Principal, Depends(require("viewer"))],
) -> ModelList:
    specs = store.current.detectors.specs
    counts: dict[str, int] = {}
    for d in detectors.list_detectors():
        counts[d.model] = counts.get(d.model, 0) + 1
    versions = catalog.versions
    names = sorted(set(versions) | set(counts))
    return ModelList(
        items=[
            ModelInfo(
                name=n,
                versions=sorted(versions.get(n, ())),
                detectors=counts.get(n, 0),
                defaults=model_defaults(specs, n),
            )
            for n in names
        ]
    )


@router.get(
    "/{name}/detectors",
    summary="Per-model default detectors (null when the global defaults apply)",
    response_model=ModelDetectors | None,
    responses=responses(401, 403, 429),
)
async def get_model_detectors(
    store: Store, name: ModelName, _: Annotated[Principal, Depends(require("viewer"))]
) -> Any:
    return model_defaults(store.current.detectors.specs, name)


@router.put(
    "/{name}/detectors",
    summary="Set a model's default detectors per feature type (admin); applied live",
    response_model=ModelDetectors,
    responses=responses(401, 403, 422, 429, 503),
)
async def put_model_detectors(
    request: Request,
    store: Store,
    name: ModelName,
    body: ModelDetectors,
    principal: Annotated[Principal, Depends(require("admin"))],
    replace: Annotated[
        bool, Query(description="Drop this model's defaults for types not in the body.")
    ] = True,
) -> Any:
    pattern = glob_escape(name)
    given = body.model_dump(exclude_none=True)

    def change(doc: ConfigDocument) -> dict[str, Any]:
        specs = dict(doc.detectors.specs)
        current = model_defaults(specs, name) or {}
        merged = given if replace else {**current, **given}
        kept = [o for o in specs.get("overrides", []) if not _is_model_default(o, pattern)]
        ours = [
            {"model": pattern, "feature": "*", "type": t, "detectors": merged[t]}
            for t in FEATURE_TYPES
            if t in merged
        ]
        specs["overrides"] = kept + ours
        parse_specs(specs)  # 422 naming the kind and field before anything changes
        return {"detectors": doc.detectors.model_copy(update={"specs": specs})}

    def view(doc: ConfigDocument) -> Any:
        return model_defaults(doc.detectors.specs, name)

    after, _ = await commit(
        request, store, principal, f"model:{name}", "set_detectors", change, view
    )
    result = model_defaults(after.detectors.specs, name)
    if result is None:
        raise ApiError(500, "model defaults were not stored")
    return result
