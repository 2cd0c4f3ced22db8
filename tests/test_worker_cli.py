"""`deepshield worker` refuses to start without what it needs (it is run for real, with
Redis, in tests/service/test_celery.py)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from deepshield.cli import app
from deepshield.config import get_settings

runner = CliRunner()


def test_worker_needs_a_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    get_settings.cache_clear()
    result = runner.invoke(app, ["worker"])
    assert result.exit_code == 2 and "CELERY_BROKER_URL" in result.output
    assert runner.invoke(app, ["worker", "--pool", "threads"]).exit_code == 2
    get_settings.cache_clear()
