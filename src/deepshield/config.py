"""Every knob DeepShield has, read from the environment (names as in DESIGN.md section 6).

Read settings through :func:`get_settings` (cached) so tests can override them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_JWT_SECRET_BYTES = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    # storage and infrastructure
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    celery_broker_url: str | None = Field(default=None, alias="CELERY_BROKER_URL")
    celery_result_backend: str | None = Field(default=None, alias="CELERY_RESULT_BACKEND")
    storage_data_dir: Path = Field(default=Path("./data"), alias="STORAGE_DATA_DIR")

    # background jobs (attempts count in both runners; time limit and the rest are Celery's)
    job_max_attempts: int = Field(default=3, ge=1, alias="JOB_MAX_ATTEMPTS")
    job_time_limit_seconds: int = Field(default=900, gt=0, alias="JOB_TIME_LIMIT_SECONDS")
    celery_visibility_timeout_seconds: int = Field(
        default=3600, gt=0, alias="CELERY_VISIBILITY_TIMEOUT_SECONDS"
    )
    job_redispatch_after_seconds: int = Field(
        default=120, gt=0, alias="JOB_REDISPATCH_AFTER_SECONDS"
    )

    # input limits
    file_max_upload_mb: int = Field(default=200, gt=0, alias="FILE_MAX_UPLOAD_MB")
    video_max_duration_seconds: float = Field(default=180, gt=0, alias="VIDEO_MAX_DURATION_SECONDS")
    video_sample_fps: float | None = Field(default=None, gt=0, alias="VIDEO_SAMPLE_FPS")
    video_max_frames: int = Field(default=32, gt=0, alias="VIDEO_MAX_FRAMES")

    # face stage
    face_detector: Literal["centerface", "haar"] = Field(
        default="centerface", alias="FACE_DETECTOR"
    )
    face_min_confidence: float = Field(default=0.5, ge=0, le=1, alias="FACE_MIN_CONFIDENCE")
    face_min_face_size: int = Field(default=40, ge=1, alias="FACE_MIN_FACE_SIZE")
    face_min_relative_area: float = Field(default=0.1, ge=0, le=1, alias="FACE_MIN_RELATIVE_AREA")
    face_detect_max_side: int = Field(default=640, ge=64, le=4096, alias="FACE_DETECT_MAX_SIDE")

    # classifier
    # 4: as fast as 16 on 2 cores (about 190 crops/s) and ~140 MB less peak memory
    infer_batch_size: int = Field(default=4, gt=0, alias="INFER_BATCH_SIZE")
    infer_top_k_explainability: int = Field(default=5, ge=0, alias="INFER_TOP_K_EXPLAINABILITY")
    infer_fake_decision_threshold: float | None = Field(
        default=None, gt=0, lt=1, alias="INFER_FAKE_DECISION_THRESHOLD"
    )
    infer_threads: int = Field(default=0, ge=0, alias="INFER_THREADS")
    deepshield_model_path: Path | None = Field(default=None, alias="DEEPSHIELD_MODEL_PATH")

    # service
    cleanup_ttl_seconds: int = Field(default=86_400, gt=0, alias="CLEANUP_TTL_SECONDS")
    saas_require_auth: bool = Field(default=False, alias="SAAS_REQUIRE_AUTH")
    saas_jwt_secret: str | None = Field(default=None, alias="SAAS_JWT_SECRET")
    saas_jwt_exp_hours: float = Field(default=24, gt=0, alias="SAAS_JWT_EXP_HOURS")
    saas_free_daily_uploads: int = Field(default=20, ge=0, alias="SAAS_FREE_DAILY_UPLOADS")
    saas_auth_cookie_name: str = Field(default="deepshield_session", alias="SAAS_AUTH_COOKIE_NAME")
    saas_auth_cookie_secure: bool = Field(default=True, alias="SAAS_AUTH_COOKIE_SECURE")
    saas_auth_cookie_samesite: Literal["lax", "strict", "none"] = Field(
        default="lax", alias="SAAS_AUTH_COOKIE_SAMESITE"
    )
    saas_return_token_in_body: bool = Field(default=False, alias="SAAS_RETURN_TOKEN_IN_BODY")
    rate_limit_rps: float | None = Field(default=None, gt=0, alias="RATE_LIMIT_RPS")
    cors_allowed_origins: str = Field(default="", alias="CORS_ALLOWED_ORIGINS")
    enable_prometheus_metrics: bool = Field(default=True, alias="ENABLE_PROMETHEUS_METRICS")
    require_redis_for_ready: bool = Field(default=False, alias="REQUIRE_REDIS_FOR_READY")
    run_db_migrations_on_startup: bool = Field(default=True, alias="RUN_DB_MIGRATIONS_ON_STARTUP")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", alias="LOG_LEVEL"
    )
    log_format: Literal["json", "text"] = Field(default="text", alias="LOG_FORMAT")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_time_limits(self) -> Settings:
        # a message must never become visible again while a live worker still runs its job
        if self.job_time_limit_seconds >= self.celery_visibility_timeout_seconds:
            raise ValueError(
                "JOB_TIME_LIMIT_SECONDS must be below CELERY_VISIBILITY_TIMEOUT_SECONDS, or a "
                "slow job would be handed to a second worker while the first still runs it"
            )
        return self

    @model_validator(mode="after")
    def _check_broker(self) -> Settings:
        if self.require_redis_for_ready and not self.celery_broker_url:
            raise ValueError("REQUIRE_REDIS_FOR_READY=true needs CELERY_BROKER_URL")
        return self

    @model_validator(mode="after")
    def _check_secrets(self) -> Settings:
        if self.saas_require_auth:
            secret = self.saas_jwt_secret or ""
            if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
                raise ValueError(
                    f"SAAS_JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes when "
                    "SAAS_REQUIRE_AUTH=true"
                )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
