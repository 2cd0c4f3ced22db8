"""Alembic environment: migrations run on the engine handed over by deepshield.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from deepshield.db.models import Base

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through `deepshield db upgrade` (deepshield.db.migrate)")

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    context.run_migrations()
