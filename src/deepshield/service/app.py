"""``create_app(settings)``: the FastAPI application, built once per process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from deepshield import __version__
from deepshield.config import Settings, get_settings
from deepshield.engine.analyze import Analyzer
from deepshield.logging_setup import configure_logging
from deepshield.service import cleanup
from deepshield.service.body_limit import BodyLimitMiddleware
from deepshield.service.errors import install_error_handlers
from deepshield.service.rate_limit import RateLimitMiddleware
from deepshield.service.request_context import RequestIdMiddleware
from deepshield.service.routes import accounts, analyze, health, results
from deepshield.service.services import (
    Services,
    build_services,
    recover_celery_jobs,
    resume_jobs,
)
from deepshield.web import pages

log = logging.getLogger(__name__)
MULTIPART_OVERHEAD = 64 * 1024


async def _repeat(name: str, interval_s: float, work: Callable[[], object]) -> None:
    """Run ``work`` in a thread every ``interval_s`` until cancelled; a failed pass is logged
    and the next one runs as planned."""
    while True:
        try:
            await run_in_threadpool(work)
        except Exception:
            log.exception("%s pass failed", name)
        await asyncio.sleep(interval_s)


def _housekeeping(services: Services) -> list[Coroutine[None, None, None]]:
    settings = services.settings
    loops = [
        _repeat(
            "cleanup",
            min(300.0, max(1.0, settings.cleanup_ttl_seconds / 4)),
            partial(cleanup.sweep, services),
        )
    ]
    if services.runner_name == "celery":
        loops.append(
            _repeat(
                "job recovery",
                max(1.0, settings.job_redispatch_after_seconds / 4),
                partial(recover_celery_jobs, services),
            )
        )
    return loops


def create_app(settings: Settings | None = None, *, analyzer: Analyzer | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_format)
        services = await run_in_threadpool(build_services, settings, analyzer)
        app.state.services = services
        services.runner.start()
        await run_in_threadpool(resume_jobs, services)
        loops = [asyncio.create_task(loop) for loop in _housekeeping(services)]
        log.info("DeepShield %s ready (runner: %s)", __version__, services.runner_name)
        try:
            yield
        finally:
            for loop in loops:
                loop.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
            await run_in_threadpool(services.runner.shutdown)
            services.engine.dispose()

    app = FastAPI(
        title="DeepShield",
        version=__version__,
        description="Face-centric deepfake screening. Scores are screening evidence, never proof.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )

    def count_error(code: str) -> None:
        _count_error(app, code)

    install_error_handlers(app, on_error=count_error)
    for router in (health.router, analyze.router, results.router, accounts.router):
        app.include_router(router, prefix="/api")
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    # added inside-out: the rate limit is innermost, CORS wraps it (so a 429 still carries
    # CORS headers and preflights are never limited), the request id wraps everything
    if settings.rate_limit_rps:
        app.add_middleware(RateLimitMiddleware, rate=settings.rate_limit_rps, on_error=count_error)
    origins = [o.strip() for o in settings.cors_allowed_origins.split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.file_max_upload_mb * 1024 * 1024 + MULTIPART_OVERHEAD,
        on_error=count_error,
    )
    app.add_middleware(RequestIdMiddleware)
    return app


def _count_error(app: FastAPI, code: str) -> None:
    services = getattr(app.state, "services", None)
    if services is not None:
        services.metrics.errors.labels(code).inc()
