"""A module-level Celery app from the environment's settings, for Celery's own command line:
``celery -A deepshield.jobs.worker_app inspect ping`` (health checks), ``... purge``, etc.
Start workers with ``deepshield worker``."""

from __future__ import annotations

from deepshield.config import get_settings
from deepshield.jobs.celery_app import make_celery_app

app = make_celery_app(get_settings())
