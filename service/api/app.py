"""FastAPI application: health, readiness, metrics and the authenticated ``/v1`` routers.

The app is served by uvicorn in the same event loop as the consume loop, so a
handler may read detector and pipeline state directly; handlers must never
block (no CPU-heavy work, no sync I/O).

``/healthz`` and ``/readyz`` answer without a token, and so does ``/metrics``
unless ``http.metrics_token`` is set (then it takes that token or any ``/v1``
token); every ``/v1`` route needs ``Authorization: Bearer <token>`` (see
:mod:`service.api.auth`). Dry-run bodies are bounded before they are read
(:mod:`service.api.dry_run`). Every response carries ``X-Request-ID``; every error
has the body ``{"error": {"code", "message", "details"}}``. CORS is off unless
``http.cors_origins`` lists origins.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api import (
    routes_alerts,
    routes_audit,
    routes_backtest,
    routes_budget,
    routes_detectors,
    routes_models,
    routes_performance,
    routes_policies,
    routes_references,
    routes_replicas,
)
from service.api.auth import Authenticator
from service.api.context import install_request_ids
from service.api.dry_run import DRY_RUN_PATHS, install_body_limit
from service.api.errors import install_error_handlers, responses
from service.api.ports import ApiPorts, Readiness, readiness
from service.metrics import GuardianMetrics
from service.settings import GuardianSettings

DOCS_ASSETS = "/static/docs"


def create_app(
    settings: GuardianSettings, ports: ApiPorts, guardian_metrics: GuardianMetrics
) -> FastAPI:
    """Build the control plane over ``ports`` (see :mod:`service.api.ports`).

    ``guardian_metrics``: where authentication is counted, and what ``/metrics`` exports.

    ``/docs`` (Swagger UI) and ``/redoc`` load their scripts from the installed
    ``fastapi-offline`` package, not from a CDN: Guardian runs where there is no
    internet, and FastAPI's default pages would render blank there.
    """
    app: FastAPI = FastAPIOffline(
        static_url=DOCS_ASSETS,
        title="Inference Guardian",
        version="1.0",
        description=(
            "Control plane of Inference Guardian: health, metrics, detectors, "
            "policies, alerts, silences and the audit log."
        ),
    )
    app.state.ports = ports
    http = settings.http
    app.state.auth = Authenticator.from_settings(
        settings.auth, guardian_metrics, http.trusted_proxies
    )
    install_error_handlers(app)
    install_request_ids(app)
    install_body_limit(app, DRY_RUN_PATHS, http.max_dry_run_bytes)
    origins = http.cors_origins
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.include_router(routes_budget.router)  # issue 17: before /v1/detectors/{id:path}
    for module in (
        routes_detectors,
        routes_replicas,
        routes_models,
        routes_policies,
        routes_alerts,
        routes_audit,
    ):
        app.include_router(module.router)
    app.include_router(routes_references.router)  # issue 17: reference profiles
    app.include_router(routes_backtest.router)  # issue 17: POST /v1/detectors/backtest
    app.include_router(routes_performance.router)

    @app.get("/healthz", tags=["health"], summary="Liveness: the process serves requests")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Readiness: Kafka reachable and input partitions assigned",
        responses={503: {"description": "Not ready; the body says why"}},
    )
    async def readyz(source: Annotated[Readiness, Depends(readiness)]) -> Any:
        ready = source.ready
        body = {"ready": ready, **source.status}
        return JSONResponse(body, status_code=200 if ready else 503)

    registry = guardian_metrics.registry
    metrics_token = http.metrics_token

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics (text exposition format)",
        response_class=PlainTextResponse,
        responses=responses(401, 429) if metrics_token is not None else None,
    )
    async def metrics(request: Request) -> Response:
        if metrics_token is not None:
            request.app.state.auth.authenticate_metrics(request, metrics_token)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
