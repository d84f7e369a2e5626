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

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api import (
    routes_alerts,
    routes_audit,
    routes_detectors,
    routes_models,
    routes_performance,
    routes_policies,
)
from service.api.auth import Authenticator
from service.api.context import install_request_ids
from service.api.dry_run import DRY_RUN_PATHS, DryRuns, install_body_limit
from service.api.errors import install_error_handlers, responses

if TYPE_CHECKING:
    from service.runtime import Guardian


DOCS_ASSETS = "/static/docs"


def create_app(guardian: Guardian) -> FastAPI:
    """Build the control plane for one running Guardian.

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
    app.state.guardian = guardian
    http = guardian.settings.http
    app.state.auth = Authenticator.from_settings(
        guardian.settings.auth, guardian.metrics, http.trusted_proxies
    )
    app.state.dry_runs = DryRuns.from_settings(guardian.settings)
    install_error_handlers(app)
    install_request_ids(app)
    install_body_limit(app, DRY_RUN_PATHS, http.max_dry_run_bytes)
    origins = guardian.settings.http.cors_origins
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    for module in (routes_detectors, routes_models, routes_policies, routes_alerts, routes_audit):
        app.include_router(module.router)
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
    async def readyz(request: Request) -> Any:
        worker = request.app.state.guardian.worker
        body = {"ready": worker.ready, **worker.status}
        return JSONResponse(body, status_code=200 if worker.ready else 503)

    registry = guardian.metrics.registry
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
