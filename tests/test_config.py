from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from deepshield.config import Settings

REPO = Path(__file__).resolve().parents[1]


def test_env_example_lists_every_setting() -> None:
    example = (REPO / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    declared = {field.alias for field in Settings.model_fields.values()}
    assert declared == listed


def test_defaults_follow_the_spec() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.file_max_upload_mb == 200 and settings.video_max_duration_seconds == 180
    assert settings.infer_top_k_explainability == 5 and settings.saas_free_daily_uploads == 20
    assert settings.infer_fake_decision_threshold is None  # the model card decides


def test_short_jwt_secret_is_refused_when_accounts_are_on() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(SAAS_REQUIRE_AUTH=True, SAAS_JWT_SECRET="short")
    assert Settings(SAAS_REQUIRE_AUTH=True, SAAS_JWT_SECRET="x" * 32).saas_require_auth


def test_job_time_limit_must_stay_below_the_visibility_timeout() -> None:
    with pytest.raises(ValidationError, match="below CELERY_VISIBILITY_TIMEOUT_SECONDS"):
        Settings(JOB_TIME_LIMIT_SECONDS=3600, CELERY_VISIBILITY_TIMEOUT_SECONDS=3600)
    assert Settings(JOB_TIME_LIMIT_SECONDS=60, CELERY_VISIBILITY_TIMEOUT_SECONDS=61)


def test_redis_readiness_needs_a_broker() -> None:
    with pytest.raises(ValidationError, match="needs CELERY_BROKER_URL"):
        Settings(REQUIRE_REDIS_FOR_READY=True)
    assert Settings(REQUIRE_REDIS_FOR_READY=True, CELERY_BROKER_URL="redis://h:6379/0")
