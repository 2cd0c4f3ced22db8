"""FastAPI dependencies as ``Annotated`` aliases, all in one place."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from deepshield.db import repositories as repo
from deepshield.db.models import Job
from deepshield.db.session import session_scope
from deepshield.service.errors import ApiError
from deepshield.service.services import Services

JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    with session_scope(services.sessions) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def existing_job(job_id: Annotated[str, Path(max_length=64)], session: SessionDep) -> Job:
    job = repo.get_job(session, job_id=job_id) if JOB_ID.fullmatch(job_id) else None
    if job is None:
        raise ApiError(404, "JOB_NOT_FOUND", "no such job")
    return job


JobDep = Annotated[Job, Depends(existing_job)]
