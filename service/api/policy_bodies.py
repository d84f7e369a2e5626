"""Bodies and answers of ``/v1/policies`` (:mod:`service.api.routes_policies`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body
from pydantic import BaseModel, ConfigDict, Field

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
    notes: list[str] = Field(
        default_factory=list,
        description=(
            "What a PUT did beyond storing the body: a new version for changed content "
            "under an unchanged explicit version, an override of unsafe settings."
        ),
    )


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


POLICY_BODY = Body(
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
