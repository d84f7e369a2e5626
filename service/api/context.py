"""Per-request plumbing shared by the routers: request ids and audited changes.

Every mutating route goes through :func:`commit` (config changes: validated,
versioned, applied, written to ``guardian.config``) or :func:`record` (actions
that are not config, such as acknowledging an alert); both write one audit
record naming the caller, the route, the request id and the object's before
and after.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request, Response

from service import logs
from service.api.auth import Principal
from service.api.errors import ApiError, invalid
from service.api.ports import ConfigStorePort
from service.control.audit import AuditRecord
from service.control.document import ConfigDocument
from service.control.policies import ConfigInvalid
from service.control.store import StaleWrite

log = logging.getLogger("service.api")

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def install_request_ids(app: FastAPI) -> None:
    """Take a well-formed ``X-Request-ID`` or make one; echo it on every response."""

    @app.middleware("http")
    async def _request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        given = request.headers.get(REQUEST_ID_HEADER)
        rid = given if given is not None and _REQUEST_ID.match(given) else uuid.uuid4().hex
        request.state.request_id = rid
        token = logs.request_id.set(rid)  # log lines of this request carry it
        started = time.perf_counter()
        try:
            response = await call_next(request)
            response.headers[REQUEST_ID_HEADER] = rid
            log_request(request, response.status_code, started)
        finally:
            logs.request_id.reset(token)
        return response


#: Probes and scrapes: logged at DEBUG only (one line per scrape would drown the rest).
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def log_request(request: Request, status: int, started: float) -> None:
    """One line per API request: method, route template (never the path's values), status."""
    route = getattr(request.scope.get("route"), "path", None) or "<unmatched>"
    level = logging.DEBUG if request.url.path in _QUIET_PATHS else logging.INFO
    log.log(
        level,
        "%s %s %d",
        request.method,
        route,
        status,
        extra={
            "method": request.method,
            "route": route,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )


def _record(
    request: Request,
    principal: Principal,
    obj: str,
    action: str,
    before: Any,
    after: Any,
    config_version: int | None,
    notes: list[str] | None = None,
) -> AuditRecord:
    route = request.scope.get("route")
    return AuditRecord(
        actor=principal.name,
        role=principal.role,
        method=request.method,
        route=getattr(route, "path", request.url.path).replace(":path}", "}"),
        path=request.url.path,
        request_id=getattr(request.state, "request_id", ""),
        object=obj,
        action=action,
        before=before,
        after=after,
        config_version=config_version,
        notes=list(notes or []),
    )


async def record(
    request: Request,
    store: ConfigStorePort,
    principal: Principal,
    obj: str,
    action: str,
    before: Any,
    after: Any,
) -> AuditRecord:
    """Audit an action that is not a config change (ack, silence, reset)."""
    rec = _record(request, principal, obj, action, before, after, None)
    try:
        await store.write_audit(rec)
    except (StaleWrite, KafkaError, TimeoutError) as exc:
        # The action already happened; the record is kept in this replica's index.
        raise ApiError(
            503,
            f"the change was made but its audit record could not be written ({type(exc).__name__})",
        ) from None
    return rec


async def commit(
    request: Request,
    store: ConfigStorePort,
    principal: Principal,
    obj: str,
    action: str,
    change: Callable[[ConfigDocument], dict[str, Any]],
    view: Callable[[ConfigDocument], Any],
    observe: Callable[[], Any] | None = None,
    notes: list[str] | None = None,
) -> tuple[ConfigDocument, AuditRecord]:
    """Make a config change as ``principal``; 422 on invalid input, 503 if Kafka is down.

    The audit record's before/after are ``view`` of the documents before and after,
    or, with ``observe``, what it returns before and after the change (the live object).
    ``notes`` (which ``change`` may fill while it runs) go into the audit record.
    """
    observed_before = observe() if observe is not None else None
    try:
        before, after = await store.commit(
            principal.name, change, comment=f"{request.method} {obj}"
        )
    except ConfigInvalid as exc:
        raise invalid(exc.problems) from None
    except (StaleWrite, KafkaError, TimeoutError) as exc:
        raise ApiError(
            503, f"config not changed: Kafka unavailable ({type(exc).__name__})"
        ) from None
    if observe is not None:
        old, new = observed_before, observe()
    else:
        old, new = view(before), view(after)
    rec = _record(request, principal, obj, action, old, new, after.version, notes)
    try:
        await store.write_audit(rec)
    except (StaleWrite, KafkaError, TimeoutError) as exc:
        raise ApiError(
            503,
            f"config version {after.version} applied but its audit record "
            f"could not be written ({type(exc).__name__})",
        ) from None
    return after, rec
