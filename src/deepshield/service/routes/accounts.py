"""Accounts (SAAS_REQUIRE_AUTH=true): register, login, logout, me, and the caller's jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, EmailStr
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from deepshield.config import Settings
from deepshield.db import accounts
from deepshield.db import repositories as repo
from deepshield.db.models import User, utcnow
from deepshield.db.session import session_scope
from deepshield.service.deps import ServicesDep, SessionDep, SignedInDep, require_accounts
from deepshield.service.errors import ApiError
from deepshield.service.routes.results import job_status
from deepshield.service.schemas import ErrorEnvelope, JobStatus
from deepshield.service.security import (
    hash_password,
    issue_token,
    password_problem,
    verify_password,
)
from deepshield.service.services import Services

router = APIRouter(tags=["accounts"])
ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"model": ErrorEnvelope} for c in (401, 404, 409, 422, 429)
}


class Credentials(BaseModel):
    email: EmailStr
    password: str


class Account(BaseModel):
    id: str
    email: str
    tier: str
    created_at: datetime
    uploads_today: int
    daily_upload_limit: int | None


class SessionOut(BaseModel):
    user: Account
    access_token: str | None = None
    token_type: str = "bearer"


def account_of(user: User, session: Any, settings: Settings) -> Account:
    today = accounts.uploads_on(session, user_id=user.id, day=utcnow().date())
    limit = settings.saas_free_daily_uploads if user.tier == "free" else None
    return Account(
        id=user.id,
        email=user.email,
        tier=user.tier,
        created_at=user.created_at,
        uploads_today=today,
        daily_upload_limit=limit,
    )


def start_session(services: Services, user: User, response: Response) -> SessionOut:
    settings = services.settings
    issued = issue_token(user.id, settings.saas_jwt_secret or "", settings.saas_jwt_exp_hours)
    with session_scope(services.sessions) as session:
        accounts.open_session(
            session, session_id=issued.session_id, user_id=user.id, expires_at=issued.expires_at
        )
        account = account_of(user, session, settings)
    response.set_cookie(
        settings.saas_auth_cookie_name,
        issued.token,
        max_age=int(settings.saas_jwt_exp_hours * 3600),
        httponly=True,
        secure=settings.saas_auth_cookie_secure,
        samesite=settings.saas_auth_cookie_samesite,
        path="/",
    )
    return SessionOut(
        user=account, access_token=issued.token if settings.saas_return_token_in_body else None
    )


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/auth/register", status_code=201, response_model=SessionOut, responses=ERRORS)
async def register(
    credentials: Credentials, request: Request, response: Response, services: ServicesDep
) -> SessionOut:
    """Create an account (free tier) and log in."""
    require_accounts(services)
    services.register_limiter.check(f"ip:{client_address(request)}")
    if problem := password_problem(credentials.password):
        raise ApiError(422, "WEAK_PASSWORD", problem)
    password_hash = await run_in_threadpool(hash_password, credentials.password)

    def create() -> User:
        try:
            with session_scope(services.sessions) as session:
                return accounts.create_user(
                    session, email=credentials.email, password_hash=password_hash
                )
        except IntegrityError as exc:
            raise ApiError(
                409, "EMAIL_TAKEN", "an account with this email exists; log in instead"
            ) from exc

    user = await run_in_threadpool(create)
    return await run_in_threadpool(start_session, services, user, response)


@router.post("/auth/login", response_model=SessionOut, responses=ERRORS)
async def login(
    credentials: Credentials, request: Request, response: Response, services: ServicesDep
) -> SessionOut:
    """Log in; the answer is the same for an unknown email and a wrong password."""
    require_accounts(services)
    email = credentials.email.lower()
    services.login_limiter.check(f"ip:{client_address(request)}", f"account:{email}")

    def check() -> User:
        with session_scope(services.sessions) as session:
            user = accounts.get_user_by_email(session, email=email)
            # one argon2 verification either way, so timing does not reveal accounts
            ok, new_hash = verify_password(
                user.password_hash if user else None, credentials.password
            )
            if not ok or user is None or user.disabled:
                raise ApiError(401, "INVALID_CREDENTIALS", "the email or password is wrong")
            if new_hash:
                accounts.update_user(session, user_id=user.id, password_hash=new_hash)
            return user

    user = await run_in_threadpool(check)
    return await run_in_threadpool(start_session, services, user, response)


@router.post("/auth/logout", status_code=204, responses=ERRORS)
def logout(signed_in: SignedInDep, session: SessionDep, services: ServicesDep) -> Response:
    """End this session on the server (the token stops working) and clear the cookie."""
    _, session_id = signed_in
    accounts.revoke_session(session, session_id=session_id)
    response = Response(status_code=204)
    settings = services.settings
    response.delete_cookie(
        settings.saas_auth_cookie_name,
        path="/",
        secure=settings.saas_auth_cookie_secure,
        httponly=True,
        samesite=settings.saas_auth_cookie_samesite,
    )
    return response


@router.get("/auth/me", response_model=Account, responses=ERRORS)
def me(signed_in: SignedInDep, session: SessionDep, services: ServicesDep) -> Account:
    user, _ = signed_in
    return account_of(user, session, services.settings)


@router.get("/jobs/me", response_model=list[JobStatus], responses=ERRORS)
def my_jobs(
    signed_in: SignedInDep, session: SessionDep, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[JobStatus]:
    """The caller's jobs, newest first (without the full results)."""
    user, _ = signed_in
    return [job_status(job, None) for job in repo.list_jobs(session, owner_id=user.id, limit=limit)]
