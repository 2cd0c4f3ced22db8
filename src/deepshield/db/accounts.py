"""Users, sessions and daily upload quotas (keyword-only, like the job repository)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from deepshield.db.models import DailyUsage, User, UserSession, utcnow

TIERS = ("free", "pro")


def create_user(session: Session, *, email: str, password_hash: str, tier: str = "free") -> User:
    user = User(
        id=uuid.uuid4().hex,
        email=email.lower(),
        password_hash=password_hash,
        tier=tier,
        disabled=False,
    )
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, *, user_id: str) -> User | None:
    return session.get(User, user_id)


def get_user_by_email(session: Session, *, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == email.lower())).first()


def list_users(session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.created_at)).all()


def update_user(session: Session, *, user_id: str, **values: object) -> bool:
    changed = session.execute(update(User).where(User.id == user_id).values(**values))
    return bool(changed.rowcount)  # type: ignore[attr-defined]


def open_session(session: Session, *, session_id: str, user_id: str, expires_at: datetime) -> None:
    session.add(UserSession(id=session_id, user_id=user_id, expires_at=expires_at))
    session.flush()


def session_is_active(session: Session, *, session_id: str, user_id: str) -> bool:
    found = session.get(UserSession, session_id)
    return found is not None and found.user_id == user_id and found.revoked_at is None


def revoke_session(session: Session, *, session_id: str) -> None:
    session.execute(
        update(UserSession).where(UserSession.id == session_id).values(revoked_at=utcnow())
    )


def consume_daily_upload(session: Session, *, user_id: str, day: date, limit: int) -> bool:
    """Count one upload for ``user_id`` on ``day`` if fewer than ``limit`` were counted.

    Atomic under concurrency: an insert-if-missing then a conditional increment, both writes,
    so the database serialises competing uploads; call it in the same transaction that inserts
    the job, so a refused job is never counted and a counted one is never lost."""
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    ensure_row = (
        module.insert(DailyUsage)
        .values(user_id=user_id, day=day, uploads=0)
        .on_conflict_do_nothing()
    )
    session.execute(ensure_row)
    counted = session.execute(
        update(DailyUsage)
        .where(DailyUsage.user_id == user_id, DailyUsage.day == day, DailyUsage.uploads < limit)
        .values(uploads=DailyUsage.uploads + 1)
    )
    return bool(counted.rowcount)  # type: ignore[attr-defined]


def release_daily_upload(session: Session, *, user_id: str, day: date) -> None:
    """Give back one counted upload (its job could not be queued after all)."""
    session.execute(
        update(DailyUsage)
        .where(DailyUsage.user_id == user_id, DailyUsage.day == day, DailyUsage.uploads > 0)
        .values(uploads=DailyUsage.uploads - 1)
    )


def uploads_on(session: Session, *, user_id: str, day: date) -> int:
    usage = session.get(DailyUsage, (user_id, day))
    return usage.uploads if usage else 0
