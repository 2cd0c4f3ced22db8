"""FastAPI dependencies as ``Annotated`` aliases, all in one place."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from deepshield.db import repositories as repo
from deepshield.db.models import Job, User
from deepshield.db.session import session_scope
from deepshield.service.auth import authenticate
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


def current_user(request: Request, services: ServicesDep) -> User | None:
    """The caller's account when accounts are on (401 without a valid session); else None.
    Uses its own short transaction, so no connection is held while an upload streams in."""
    if not services.settings.saas_require_auth:
        return None
    with session_scope(services.sessions) as session:
        user, _ = authenticate(request, services.settings, session)
    return user


UserDep = Annotated[User | None, Depends(current_user)]


def require_accounts(services: Services) -> None:
    """404 for the account routes when accounts are off: they do not exist then."""
    if not services.settings.saas_require_auth:
        raise ApiError(404, "ACCOUNTS_DISABLED", "accounts are not enabled on this server")


def signed_in_user(
    request: Request, services: ServicesDep, session: SessionDep
) -> tuple[User, str]:
    """(user, session id) for the account routes; 404 when accounts are off."""
    require_accounts(services)
    return authenticate(request, services.settings, session)


SignedInDep = Annotated[tuple[User, str], Depends(signed_in_user)]


def existing_job(
    job_id: Annotated[str, Path(max_length=64)], session: SessionDep, user: UserDep
) -> Job:
    """The job, if it exists and (with accounts on) belongs to the caller; another user's job
    answers exactly like a missing one."""
    job = repo.get_job(session, job_id=job_id) if JOB_ID.fullmatch(job_id) else None
    if job is None or (user is not None and job.owner_id != user.id):
        raise ApiError(404, "JOB_NOT_FOUND", "no such job")
    return job


JobDep = Annotated[Job, Depends(existing_job)]
