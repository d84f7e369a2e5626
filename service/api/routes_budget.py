"""``/v1/detectors/budget``: the false-alarm budget every budgeted detector spends.

The budget (``false_alarms_per_stream_per_day``, ``false_alarms_per_model_per_day``,
``events_per_day``; docs/drift.md) is the ``budget`` section of the detector
specs. A PUT replaces it as a config change: validated (422 naming the field),
versioned on ``guardian.config``, audited and applied live by every replica;
budgeted detectors (``rank_window``, ``category_window``) then set their
thresholds again from it at their next test. A single detector's own budget
is its ``false_alarms_per_day`` param (``PATCH /v1/detectors/{id}``).

Included before the detectors router, whose ``/{detector_id:path}`` would
otherwise take ``budget`` for a detector id.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from detectors.drift.budget import AlarmBudget
from service.api.auth import Principal, require
from service.api.context import commit
from service.api.errors import responses
from service.api.ports import ConfigStorePort, config_store
from service.control.document import ConfigDocument
from service.control.live import parse_specs

router = APIRouter(prefix="/v1/detectors", tags=["detectors"])

Store = Annotated[ConfigStorePort, Depends(config_store)]


def _budget_of(specs: dict[str, Any]) -> AlarmBudget:
    return parse_specs(specs).budget


@router.get(
    "/budget",
    summary="The false-alarm budget of the budgeted detectors",
    response_model=AlarmBudget,
    responses=responses(401, 403, 429),
)
async def get_budget(
    store: Store, _: Annotated[Principal, Depends(require("viewer"))]
) -> AlarmBudget:
    return _budget_of(store.current.detectors.specs)


@router.put(
    "/budget",
    summary="Set the false-alarm budget (admin); applied live on every replica",
    response_model=AlarmBudget,
    responses=responses(401, 403, 422, 429, 503),
)
async def put_budget(
    request: Request,
    store: Store,
    body: AlarmBudget,
    principal: Annotated[Principal, Depends(require("admin"))],
) -> AlarmBudget:
    def change(doc: ConfigDocument) -> dict[str, Any]:
        specs = {**doc.detectors.specs, "budget": body.model_dump(mode="json")}
        parse_specs(specs)  # 422 naming the field before anything changes
        return {"detectors": doc.detectors.model_copy(update={"specs": specs})}

    def view(doc: ConfigDocument) -> Any:
        return _budget_of(doc.detectors.specs).model_dump(mode="json")

    after, _ = await commit(
        request, store, principal, "detectors:budget", "set_budget", change, view
    )
    return _budget_of(after.detectors.specs)
