"""``/v1/replicas``: the replicas of the consumer group, as this replica sees them.

Built from the heartbeats on the membership topic (:mod:`service.fleet`): any
replica behind a load balancer gives the same list, give or take one heartbeat.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from service.api.auth import Principal, require
from service.api.errors import ApiError, responses
from service.api.ports import FleetPort, fleet_port
from service.fleet.records import Member

router = APIRouter(prefix="/v1/replicas", tags=["replicas"])


class ReplicaList(BaseModel):
    answered_by: str = Field(description="The replica that answered.")
    items: list[Member]
    total: int


@router.get(
    "",
    summary="List the replicas of the group: partitions, config version, detectors, heartbeat",
    response_model=ReplicaList,
    responses=responses(401, 403, 429, 503),
)
async def list_replicas(
    fleet: Annotated[FleetPort | None, Depends(fleet_port)],
    _: Annotated[Principal, Depends(require("viewer"))],
) -> ReplicaList:
    if fleet is None:
        raise ApiError(503, "this replica does not follow the membership topic")
    members = fleet.members()
    return ReplicaList(answered_by=fleet.replica_id, items=members, total=len(members))
