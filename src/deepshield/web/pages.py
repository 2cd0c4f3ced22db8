"""The web UI's pages: server-rendered shells (Jinja2) that the small script in static/app.js
fills from the same REST API. Every asset is served from here; no CDN, no build step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from deepshield.service.deps import ServicesDep

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)


def page(request: Request, services: Any, name: str, **context: Any) -> HTMLResponse:
    settings = services.settings
    return templates.TemplateResponse(
        request,
        name,
        {
            "accounts": settings.saas_require_auth,
            "max_upload_mb": settings.file_max_upload_mb,
            "max_video_s": int(settings.video_max_duration_seconds),
            "threshold": services.analyzer.threshold,
            **context,
        },
    )


@router.get("/", response_class=HTMLResponse)
def analyzer(request: Request, services: ServicesDep) -> HTMLResponse:
    return page(request, services, "analyzer.html", job_id=None)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: str, request: Request, services: ServicesDep) -> HTMLResponse:
    return page(request, services, "analyzer.html", job_id=job_id)


@router.get("/history", response_class=HTMLResponse)
def history(request: Request, services: ServicesDep) -> HTMLResponse:
    return page(request, services, "history.html")


@router.get("/login", response_class=HTMLResponse, response_model=None)
def login(request: Request, services: ServicesDep) -> Response:
    if not services.settings.saas_require_auth:
        return RedirectResponse("/", status_code=303)
    return page(request, services, "account.html", mode="login")


@router.get("/register", response_class=HTMLResponse, response_model=None)
def register(request: Request, services: ServicesDep) -> Response:
    if not services.settings.saas_require_auth:
        return RedirectResponse("/", status_code=303)
    return page(request, services, "account.html", mode="register")


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(status_code=204)
