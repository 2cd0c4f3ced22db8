"""``create_app(settings)``: the FastAPI application, built once per process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
from deepshield.service.services import build_services, resume_jobs
from deepshield.web import pages

log = logging.getLogger(__name__)
MULTIPART_OVERHEAD = 64 * 1024


async def _cleanup_loop(app: FastAPI) -> None:
    interval = min(300.0, max(1.0, app.state.services.settings.cleanup_ttl_seconds / 4))
    while True:
        try:
            await run_in_threadpool(cleanup.sweep, app.state.services)
        except Exception:
            log.exception("cleanup pass failed")
        await asyncio.sleep(interval)


def create_app(settings: Settings | None = None, *, analyzer: Analyzer | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_format)
        services = await run_in_threadpool(build_services, settings, analyzer)
        app.state.services = services
        services.runner.start()
        await run_in_threadpool(resume_jobs, services)
        sweeper = asyncio.create_task(_cleanup_loop(app))
        log.info("DeepShield %s ready (runner: %s)", __version__, services.runner_name)
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
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
