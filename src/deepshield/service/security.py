"""Passwords (argon2id via argon2-cffi) and session tokens (HS256 JWT via PyJWT).

Tokens carry ``sub`` (user id), ``iat``, ``exp`` and ``jti`` (session id); decoding pins the
algorithm and requires all four, so ``alg: none``, other algorithms, other secrets, a missing
or past ``exp`` are all refused. Logout revokes the ``jti`` server-side."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "sub", "iat", "jti"]
MIN_PASSWORD, MAX_PASSWORD = 10, 128

_hasher = PasswordHasher()  # argon2id, library defaults (RFC 9106 second recommendation)
# verified against when the account does not exist, so both paths cost one argon2 verification
_DUMMY_HASH = _hasher.hash("deepshield-timing-equaliser")


class TokenError(ValueError):
    pass


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    """(matches, new hash when the stored one uses outdated parameters)."""
    try:
        _hasher.verify(stored_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False, None
    if stored_hash is None:
        return False, None
    return True, hash_password(password) if _hasher.check_needs_rehash(stored_hash) else None


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"the password needs at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"the password may have at most {MAX_PASSWORD} characters"
    return None


@dataclass(frozen=True)
class IssuedToken:
    token: str
    session_id: str
    expires_at: datetime


def issue_token(user_id: str, secret: str, hours: float) -> IssuedToken:
    now = datetime.now(UTC)
    expires = now + timedelta(hours=hours)
    session_id = uuid.uuid4().hex
    claims = {"sub": user_id, "iat": now, "exp": expires, "jti": session_id}
    return IssuedToken(jwt.encode(claims, secret, algorithm=ALGORITHM), session_id, expires)


def decode_token(token: str, secret: str) -> dict[str, object]:
    try:
        claims: dict[str, object] = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": REQUIRED_CLAIMS}
        )
    except jwt.PyJWTError as exc:
        raise TokenError(str(exc)) from exc
    return claims
