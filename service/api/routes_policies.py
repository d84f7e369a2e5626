"""``/v1/policies``: read, replace and dry-run the redaction and retention policies.

Bodies use the policies' file format (``config/redaction.yaml``,
``config/retention.yaml`` as JSON). A PUT is validated in full by the policy's
own code (422 with its messages), versioned, applied live by every replica;
a retention change also creates the sanitized topics of new classes and
corrects ``retention.ms`` of changed ones.

Policies apply by content. A PUT that keeps the explicit ``version`` of the
policy in force but changes its content (GET, edit, PUT) is stored as
``<version>+<first 8 hex digits of the content hash>``; the response and the
audit record say so in ``notes``. Unsafe settings (see
:mod:`service.overrides`) need ``override: {reason}``; an accepted override is
audited, counted in ``guardian_policy_overrides_total`` and raises the
``GuardianPolicyOverride`` alert.

Dry-runs (operator or higher) read the sample and return what would happen;
the sample is not stored, logged or audited, and runs isolated from the
pipeline (:mod:`service.api.dry_run`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request

from service.api.auth import Principal, require
from service.api.context import commit
from service.api.errors import ApiError, responses
from service.api.policy_bodies import (
    POLICY_BODY,
    Policy,
    RedactionDryRun,
    RedactionDryRunResult,
    RedactionFinding,
    RetentionDryRun,
    RetentionDryRunResult,
)
from service.api.ports import (
    AlertAdmin,
    ConfigStorePort,
    DryRunner,
    PolicyHolder,
    alert_admin,
    config_store,
    dry_runner,
    override_counter,
    policy_holder,
)
from service.control.document import ConfigDocument
from service.control.live import redaction_mapping
from service.overrides import PolicyOverride, UnsafeSetting
from service.redaction import RedactionPolicy
from service.retention import EventTimestampError, RetentionPolicy, dry_run

router = APIRouter(prefix="/v1/policies", tags=["policies"])

Policies = Annotated[PolicyHolder, Depends(policy_holder)]
Store = Annotated[ConfigStorePort, Depends(config_store)]
DryRuns = Annotated[DryRunner, Depends(dry_runner)]
Alerts = Annotated[AlertAdmin, Depends(alert_admin)]
CountOverride = Annotated[Callable[[], None], Depends(override_counter)]


def _redaction(
    policies: PolicyHolder, store: ConfigStorePort, notes: list[str] | None = None
) -> Policy:
    policy = policies.redaction
    return Policy(
        version=policy.version or "",
        config_version=store.current.version,
        policy=redaction_mapping(policy),
        notes=notes or [],
    )


def _retention(
    policies: PolicyHolder, store: ConfigStorePort, notes: list[str] | None = None
) -> Policy:
    policy = policies.retention
    return Policy(
        version=policy.version,
        config_version=store.current.version,
        policy=policy.to_mapping(),
        notes=notes or [],
    )


def new_version(
    body: dict[str, Any], version: str, current_version: str, changed: bool, digest: str
) -> str | None:
    """The version to store instead of ``version``, or ``None`` to keep it.

    Only an explicit ``version`` in the body that equals the version in force
    while the content differs is replaced: ``<version>+<digest[:8]>`` (an
    earlier such suffix is replaced, not stacked).

    Examples
    --------
    >>> new_version({"version": "2026-01"}, "2026-01", "2026-01", True, "1a2b3c4d5e")
    '2026-01+1a2b3c4d'
    >>> new_version({"version": "2026-01+1a2b3c4d"}, "2026-01+1a2b3c4d",
    ...             "2026-01+1a2b3c4d", True, "99887766aa")
    '2026-01+99887766'
    >>> new_version({}, "3f2a", "3f2a", True, "99") is None  # a content hash: new content, new hash
    True
    """
    if not isinstance(body.get("version"), str) or version != current_version or not changed:
        return None
    base = _SUFFIX.sub("", version)
    return f"{base}+{digest[:8]}"


_SUFFIX = re.compile(r"\+[0-9a-f]{8}$")


_Policy = TypeVar("_Policy", RedactionPolicy, RetentionPolicy)


def _stored(body: dict[str, Any], policy: _Policy, current: _Policy, notes: list[str]) -> _Policy:
    """``policy`` as it is stored: renamed (and noted) when its explicit version already
    names different content (see :func:`new_version`)."""
    digest = policy.content_hash()
    renamed = new_version(
        body,
        policy.version or "",
        current.version or "",
        digest != current.content_hash(),
        digest.removeprefix("sha256:"),
    )
    if renamed is None:
        return policy
    notes.append(f"version {policy.version} already names different content; stored as {renamed}")
    return policy.model_copy(update={"version": renamed})


def _note_override(
    unsafe: list[UnsafeSetting], override: PolicyOverride | None, notes: list[str]
) -> None:
    if unsafe and override is not None:
        fields = ", ".join(u.field for u in unsafe)
        notes.append(f"override of unsafe settings ({fields}); reason: {override.reason}")


def _count_override(
    count: Callable[[], None],
    alerts: AlertAdmin,
    policy: str,
    unsafe: list[UnsafeSetting],
    actor: str,
) -> None:
    if unsafe:
        count()
        alerts.policy_override(policy, [u.field for u in unsafe], actor)


@router.get(
    "/redaction",
    summary="The redaction policy in force",
    response_model=Policy,
    responses=responses(401, 403, 429),
)
async def get_redaction(
    policies: Policies, store: Store, _: Annotated[Principal, Depends(require("viewer"))]
) -> Policy:
    return _redaction(policies, store)


@router.put(
    "/redaction",
    summary="Replace the redaction policy (admin); applied live on every replica",
    response_model=Policy,
    responses=responses(401, 403, 422, 429, 503),
)
async def put_redaction(
    request: Request,
    policies: Policies,
    store: Store,
    alerts: Alerts,
    count: CountOverride,
    principal: Annotated[Principal, Depends(require("admin"))],
    body: Annotated[dict[str, Any], POLICY_BODY],
) -> Policy:
    notes: list[str] = []
    unsafe: list[UnsafeSetting] = []

    def change(doc: ConfigDocument) -> dict[str, Any]:
        policy = _stored(body, policies.parse_redaction(body), policies.redaction, notes)
        unsafe[:] = policy.unsafe_settings()
        _note_override(unsafe, policy.override, notes)
        return {"redaction": redaction_mapping(policy)}

    await commit(
        request,
        store,
        principal,
        "policy:redaction",
        "replace",
        change,
        lambda d: d.redaction,
        notes=notes,
    )
    _count_override(count, alerts, "redaction", unsafe, principal.name)
    return _redaction(policies, store, notes)


@router.post(
    "/redaction/dry-run",
    summary=(
        "Redact a sample event with the policy in force (operator); isolated from the "
        "pipeline, nothing is stored or logged"
    ),
    response_model=RedactionDryRunResult,
    responses=responses(401, 403, 413, 422, 429, 503),
)
async def dry_run_redaction(
    policies: Policies,
    runner: DryRuns,
    body: RedactionDryRun,
    principal: Annotated[Principal, Depends(require("operator"))],
) -> RedactionDryRunResult:
    runner.admit(principal)
    outcome = await runner.redact(policies.redaction, body.event)
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
    policies: Policies, store: Store, _: Annotated[Principal, Depends(require("viewer"))]
) -> Policy:
    return _retention(policies, store)


@router.put(
    "/retention",
    summary="Replace the retention policy (admin); topics follow, applied on every replica",
    response_model=Policy,
    responses=responses(401, 403, 422, 429, 503),
)
async def put_retention(
    request: Request,
    policies: Policies,
    store: Store,
    alerts: Alerts,
    count: CountOverride,
    principal: Annotated[Principal, Depends(require("admin"))],
    body: Annotated[dict[str, Any], POLICY_BODY],
) -> Policy:
    notes: list[str] = []
    unsafe: list[UnsafeSetting] = []

    def change(doc: ConfigDocument) -> dict[str, Any]:
        policy = _stored(body, policies.parse_retention(body), policies.retention, notes)
        unsafe[:] = policies.retention_unsafe(policy)
        _note_override(unsafe, policy.override, notes)
        return {"retention": policy.to_mapping()}

    await commit(
        request,
        store,
        principal,
        "policy:retention",
        "replace",
        change,
        lambda d: d.retention,
        notes=notes,
    )
    _count_override(count, alerts, "retention", unsafe, principal.name)
    return _retention(policies, store, notes)


@router.post(
    "/retention/dry-run",
    summary="Which class, expiry and rule a sample event would get (operator); nothing is stored",
    response_model=RetentionDryRunResult,
    response_model_by_alias=True,
    responses=responses(401, 403, 413, 422, 429),
)
async def dry_run_retention(
    policies: Policies,
    runner: DryRuns,
    body: RetentionDryRun,
    principal: Annotated[Principal, Depends(require("operator"))],
) -> RetentionDryRunResult:
    runner.admit(principal)
    try:
        result = dry_run(
            policies.retention, body.event, body.entities, prefix=policies.sanitized_prefix
        )
    except EventTimestampError:
        raise ApiError(422, "event.timestamp is not an ISO-8601 timestamp") from None
    return RetentionDryRunResult.model_validate(result)
