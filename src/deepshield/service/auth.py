"""Who is calling: the session token from the HttpOnly cookie or ``Authorization: Bearer``,
checked against its server-side session and the user's current database row (tier and
disabled flag are read there, never trusted from the token)."""

from __future__ import annotations

import threading
import time
from collections import deque

from fastapi import Request
from sqlalchemy.orm import Session

from deepshield.config import Settings
from deepshield.db import accounts
from deepshield.db.models import User
from deepshield.service.errors import ApiError
from deepshield.service.security import TokenError, decode_token


def token_from(request: Request, settings: Settings) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.cookies.get(settings.saas_auth_cookie_name)


def authenticate(request: Request, settings: Settings, session: Session) -> tuple[User, str]:
    """(user, session id) of a valid, unrevoked token; 401 otherwise."""
    token = token_from(request, settings)
    if token is None:
        raise ApiError(401, "UNAUTHENTICATED", "log in first", {"WWW-Authenticate": "Bearer"})
    try:
        claims = decode_token(token, settings.saas_jwt_secret or "")
    except TokenError as exc:
        raise ApiError(
            401,
            "INVALID_TOKEN",
            "the session token is invalid or expired",
            {"WWW-Authenticate": "Bearer"},
        ) from exc
    user_id, session_id = str(claims["sub"]), str(claims["jti"])
    if not accounts.session_is_active(session, session_id=session_id, user_id=user_id):
        raise ApiError(
            401,
            "SESSION_ENDED",
            "this session has ended; log in again",
            {"WWW-Authenticate": "Bearer"},
        )
    user = accounts.get_user(session, user_id=user_id)
    if user is None or user.disabled:
        raise ApiError(
            401, "ACCOUNT_DISABLED", "this account cannot be used", {"WWW-Authenticate": "Bearer"}
        )
    return user, session_id


class AttemptLimiter:
    """At most ``limit`` attempts per key in a sliding ``window_s``, in this process's memory.
    (Per-process is enough to blunt password guessing; put a shared limit at the proxy when
    running several API processes.)"""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self._attempts: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, *keys: str) -> None:
        """Record an attempt for every key; 429 when any key is over its limit."""
        now = time.monotonic()
        with self._lock:
            waits = []
            for key in keys:
                attempts = self._attempts.setdefault(key, deque())
                while attempts and now - attempts[0] > self.window_s:
                    attempts.popleft()
                if len(attempts) >= self.limit:
                    waits.append(self.window_s - (now - attempts[0]))
                attempts.append(now)
            if len(self._attempts) > 50_000:
                self._attempts = {
                    k: v for k, v in self._attempts.items() if v and now - v[-1] < self.window_s
                }
        if waits:
            retry = max(1, round(max(waits)))
            raise ApiError(
                429,
                "TOO_MANY_ATTEMPTS",
                "too many attempts; wait and try again",
                {"Retry-After": str(retry)},
            )
