"""FastAPI application: health, readiness, metrics; ``/v1`` routers plug in here.

The app is served by uvicorn in the same event loop as the consume loop, so a
handler may read detector and pipeline state directly; handlers must never
block (no CPU-heavy work, no sync I/O).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from service.runtime import Guardian


def create_app(guardian: Guardian) -> FastAPI:
    """Build the control plane for one running Guardian."""
    app = FastAPI(
        title="Inference Guardian",
        version="1.0",
        description=(
            "Control plane of Inference Guardian: health, metrics, detectors, "
            "policies, alerts, silences and the audit log."
        ),
    )
    app.state.guardian = guardian

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

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics (text exposition format)",
        response_class=PlainTextResponse,
    )
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
