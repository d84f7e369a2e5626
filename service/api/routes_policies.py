"""``/v1/policies``: read, replace and dry-run the redaction and retention policies.

Bodies use the policies' file format (``config/redaction.yaml``,
``config/retention.yaml`` as JSON). A PUT is validated in full by the policy's
own code (422 with its messages), versioned, applied live by every replica;
a retention change also creates the sanitized topics of new classes and
corrects ``retention.ms`` of changed ones. Dry-runs read the sample and return
what would happen; the sample is not stored, logged or audited.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from service.api.auth import Principal, require
from service.api.context import commit, guardian_of, store_of
from service.api.errors import ApiError, responses
from service.control.document import ConfigDocument
from service.control.live import parse_redaction, parse_retention, redaction_mapping
from service.retention import EventTimestampError, dry_run

router = APIRouter(prefix="/v1/policies", tags=["policies"])

_SAMPLE_EVENT: dict[str, Any] = {
    "schema_version": 1,
    "event_id": "7b0c6a9e-5f0e-4f43-9a49-2d2b9c1f6f10",
    "timestamp": "2026-11-30T12:00:00.123Z",
    "model": {"name": "credit-risk", "version": "3.2.0"},
    "inputs": {"features": {"age": 41}, "text": "mail me at jane@example.com"},
    "outputs": {"prediction": 1, "score": 0.83},
}


class Policy(BaseModel):
    """A policy in its file format, its version and the config version it belongs to."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "version": "sha256:43d70fc5aca15db1",
                    "config_version": 3,
                    "policy": {
                        "default_class": "standard",
                        "classes": {"short": {"duration": "7d"}, "standard": {"duration": "30d"}},
                        "rules": [],
                    },
                }
            ]
        }
    )

    version: str = Field(description="The policy's own version (explicit or content hash).")
    config_version: int
    policy: dict[str, Any]


class RedactionDryRun(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"event": _SAMPLE_EVENT}]}
    )

    event: dict[str, Any] = Field(description="A sample event; it is not stored or logged.")


class RedactionFinding(BaseModel):
    path: str
    entity: str
    operator: str
    count: int


class RedactionDryRunResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event": {"inputs": {"text": "mail me at <EMAIL_ADDRESS>"}},
                    "redactions": [
                        {
                            "path": "inputs.text",
                            "entity": "EMAIL_ADDRESS",
                            "operator": "replace",
                            "count": 1,
                        }
                    ],
                    "entities": ["EMAIL_ADDRESS"],
                    "failed": False,
                    "reason": None,
                    "policy_version": "cba7bcca72b4",
                }
            ]
        }
    )

    event: dict[str, Any]
    redactions: list[RedactionFinding]
    entities: list[str]
    failed: bool
    reason: str | None
    policy_version: str


class RetentionDryRun(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"event": _SAMPLE_EVENT, "entities": ["EMAIL_ADDRESS"]}]},
    )

    event: dict[str, Any] = Field(description="A sample event; it is not stored or logged.")
    entities: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list,
        max_length=64,
        description="Entity types redaction would have found in it.",
    )


class RetentionDryRunResult(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "class": "short",
                    "expires_at": "2026-12-07T12:00:00.123Z",
                    "rule": "pii",
                    "rule_index": 0,
                    "retention_ms": 604800000,
                    "topic": "inference.sanitized.short",
                    "timestamp": "2026-11-30T12:00:00.123Z",
                    "policy_version": "sha256:43d70fc5aca15db1",
                }
            ]
        },
    )

    class_name: str = Field(alias="class")
    expires_at: str | None
    rule: str | None
    rule_index: int | None
    retention_ms: int
    topic: str
    timestamp: str
    policy_version: str


_POLICY_BODY = Body(
    description="The whole policy in its file format.",
    openapi_examples={
        "retention": {
            "summary": "two classes, PII kept 7 days",
            "value": {
                "default_class": "standard",
                "classes": {"short": {"duration": "7d"}, "standard": {"duration": "30d"}},
                "rules": [
                    {"name": "pii", "match": {"entities": {"any_of": ["*"]}}, "class": "short"}
                ],
            },
        }
    },
)


def _redaction(request: Request) -> Policy:
    policy = guardian_of(request).redactor.policy
    return Policy(
        version=policy.version or "",
        config_version=store_of(request).current.version,
        policy=redaction_mapping(policy),
    )


def _retention(request: Request) -> Policy:
    policy = guardian_of(request).retention_policy
    return Policy(
        version=policy.version,
        config_version=store_of(request).current.version,
        policy=policy.to_mapping(),
    )


@router.get(
    "/redaction",
    summary="The redaction policy in force",
    response_model=Policy,
    responses=responses(401, 403, 429),
)
async def get_redaction(
    request: Request, _: Annotated[Principal, Depends(require("viewer"))]
) -> Policy:
    return _redaction(request)


@router.put(
    "/redaction",
    summary="Replace the redaction policy (admin); applied live on every replica",
    response_model=Policy,
    responses=responses(401, 403, 422, 429, 503),
)
async def put_redaction(
    request: Request,
    principal: Annotated[Principal, Depends(require("admin"))],
    body: Annotated[dict[str, Any], _POLICY_BODY],
) -> Policy:
    guardian = guardian_of(request)

    def change(doc: ConfigDocument) -> dict[str, Any]:
        return {"redaction": redaction_mapping(parse_redaction(body, guardian))}

    await commit(request, principal, "policy:redaction", "replace", change, lambda d: d.redaction)
    return _redaction(request)


@router.post(
    "/redaction/dry-run",
    summary="Redact a sample event with the policy in force; nothing is stored or logged",
    response_model=RedactionDryRunResult,
    responses=responses(401, 403, 422, 429),
)
async def dry_run_redaction(
    request: Request, body: RedactionDryRun, _: Annotated[Principal, Depends(require("viewer"))]
) -> RedactionDryRunResult:
    [outcome] = await guardian_of(request).redactor.redact_batch([body.event])
    event = dict(outcome.event)
    event.pop("guardian", None)  # what was done is in ``redactions``
    return RedactionDryRunResult(
        event=event,
        redactions=[RedactionFinding(**r.as_dict()) for r in outcome.redactions],
        entities=sorted(outcome.entities),
        failed=outcome.failed,
        reason=outcome.reason,
        policy_version=outcome.policy_version,
    )


@router.get(
    "/retention",
    summary="The retention policy in force",
    response_model=Policy,
    responses=responses(401, 403, 429),
)
async def get_retention(
    request: Request, _: Annotated[Principal, Depends(require("viewer"))]
) -> Policy:
    return _retention(request)


@router.put(
    "/retention",
    summary="Replace the retention policy (admin); topics follow, applied on every replica",
    response_model=Policy,
    responses=responses(401, 403, 422, 429, 503),
)
async def put_retention(
    request: Request,
    principal: Annotated[Principal, Depends(require("admin"))],
    body: Annotated[dict[str, Any], _POLICY_BODY],
) -> Policy:
    guardian = guardian_of(request)

    def change(doc: ConfigDocument) -> dict[str, Any]:
        return {"retention": parse_retention(body, guardian).to_mapping()}

    await commit(request, principal, "policy:retention", "replace", change, lambda d: d.retention)
    return _retention(request)


@router.post(
    "/retention/dry-run",
    summary="Which class, expiry and rule a sample event would get; nothing is stored",
    response_model=RetentionDryRunResult,
    response_model_by_alias=True,
    responses=responses(401, 403, 422, 429),
)
async def dry_run_retention(
    request: Request, body: RetentionDryRun, _: Annotated[Principal, Depends(require("viewer"))]
) -> RetentionDryRunResult:
    guardian = guardian_of(request)
    try:
        result = dry_run(
            guardian.retention_policy,
            body.event,
            body.entities,
            prefix=guardian.settings.kafka.topics.sanitized_prefix,
        )
    except EventTimestampError:
        raise ApiError(422, "event.timestamp is not an ISO-8601 timestamp") from None
    return RetentionDryRunResult.model_validate(result)
