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
from deepshield.service.services import Services

router = APIRouter(tags=["operations"])


async def _checks(services: Services, *, broker: bool = True) -> dict[str, str]:
    """Each dependency, "ok" or "unreachable": the database, and the broker under Celery
    (unless ``broker`` is False)."""
    checks = {"database": "ok" if await run_in_threadpool(services.database_ok) else "unreachable"}
    broker_state = await run_in_threadpool(services.broker_ok) if broker else None
    if broker_state is not None:
        checks["broker"] = "ok" if broker_state else "unreachable"
    return checks


@router.get("/health", response_model=Health)
async def health(services: ServicesDep) -> Health:
    checks = await _checks(services)
    return Health(
        status="ok" if all(v == "ok" for v in checks.values()) else "degraded",
        version=__version__,
        model_version=services.analyzer.classifier.card.model_version,
        runner=services.runner_name,
        checks=checks,
    )


@router.get("/health/live")
async def live() -> dict[str, str]:
    """The process is up and serving (no dependencies checked)."""
    return {"status": "ok"}


@router.get("/health/ready", responses={503: {"description": "a dependency is unreachable"}})
async def ready(services: ServicesDep) -> JSONResponse:
    """Ready to take work: the database answers, and the broker too when
    REQUIRE_REDIS_FOR_READY=true."""
    checks = await _checks(services, broker=services.settings.require_redis_for_ready)
    down = sorted(name for name, state in checks.items() if state != "ok")
    if down:
        return envelope(503, "NOT_READY", f"unreachable: {', '.join(down)}")
    return JSONResponse({"status": "ready", "checks": checks})


@router.get("/metrics", response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    """Prometheus text format."""
    if not services.settings.enable_prometheus_metrics:
        raise ApiError(404, "NOT_FOUND", "metrics are disabled")
    body = await run_in_threadpool(services.metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
