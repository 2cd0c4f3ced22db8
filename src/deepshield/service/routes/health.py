"""Liveness, readiness, health summary and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from deepshield import __version__
from deepshield.service.deps import ServicesDep
from deepshield.service.errors import ApiError, envelope
from deepshield.service.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health)
async def health(services: ServicesDep) -> Health:
    database = "ok" if await run_in_threadpool(services.database_ok) else "unreachable"
    return Health(
        status="ok" if database == "ok" else "degraded",
        version=__version__,
        model_version=services.analyzer.classifier.card.model_version,
        runner=services.runner_name,
        checks={"database": database},
    )


@router.get("/health/live")
async def live() -> dict[str, str]:
    """The process is up and serving (no dependencies checked)."""
    return {"status": "ok"}


@router.get("/health/ready", responses={503: {"description": "a dependency is unreachable"}})
async def ready(services: ServicesDep) -> JSONResponse:
    """Ready to take work: the database answers."""
    if not await run_in_threadpool(services.database_ok):
        return envelope(503, "NOT_READY", "the database is unreachable")
    return JSONResponse({"status": "ready", "checks": {"database": "ok"}})


@router.get("/metrics", response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    """Prometheus text format."""
    if not services.settings.enable_prometheus_metrics:
        raise ApiError(404, "NOT_FOUND", "metrics are disabled")
    body = await run_in_threadpool(services.metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
