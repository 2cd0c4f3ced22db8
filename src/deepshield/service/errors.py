"""One error envelope for every failure: ``{request_id, error: {error_code, message}}``, with
stable codes and fitting HTTP statuses; never a stack trace to the client."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from deepshield.engine import errors as media
from deepshield.service.request_context import current_request_id

log = logging.getLogger(__name__)

# engine error codes -> HTTP status
MEDIA_STATUS = {
    media.EMPTY_FILE: 400,
    media.UNSUPPORTED_MEDIA_TYPE: 415,
    media.CORRUPT_IMAGE: 422,
    media.IMAGE_TOO_LARGE: 422,
    media.CORRUPT_VIDEO: 422,
    media.NO_VIDEO_STREAM: 422,
    media.VIDEO_TOO_LONG: 422,
    media.VIDEO_TOO_LARGE: 422,
    media.FILE_NOT_FOUND: 400,
}
HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "FILE_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    503: "SERVICE_UNAVAILABLE",
}

# what Starlette's and FastAPI's body parsers say about a request body they cannot parse
MULTIPART_PARSER_ERRORS = {"Invalid multipart data.", "There was an error parsing the body"}


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def from_media_error(exc: media.MediaError) -> ApiError:
    return ApiError(MEDIA_STATUS.get(exc.code, 422), exc.code, exc.message)


def envelope(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"request_id": current_request_id(), "error": {"error_code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI, on_error: Callable[[str], None] | None = None) -> None:
    def count(code: str) -> None:
        if on_error is not None:
            on_error(code)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        count(exc.code)
        return envelope(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        code = (
            "MISSING_FILE"
            if where.endswith("file") and first.get("type") == "missing"
            else "VALIDATION_ERROR"
        )
        count(code)
        return envelope(
            422, code, f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
        if exc.status_code == 400 and str(exc.detail) in MULTIPART_PARSER_ERRORS:
            code = "MALFORMED_MULTIPART"
        count(code)
        message = "the upload is larger than allowed" if exc.status_code == 413 else str(exc.detail)
        return envelope(exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(DBAPIError)
    async def _database(_: Request, exc: DBAPIError) -> JSONResponse:
        # a lost connection (database restarting, network cut) is a temporary 503; any other
        # database error is a bug and stays a logged 500
        if not exc.connection_invalidated and not isinstance(exc, OperationalError):
            return await _unexpected(_, exc)
        log.error("database unreachable: %s", exc.orig)
        count("DATABASE_UNAVAILABLE")
        return envelope(
            503,
            "DATABASE_UNAVAILABLE",
            "the database is unreachable; try again shortly",
            {"Retry-After": "10"},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        count("INTERNAL_ERROR")
        return envelope(500, "INTERNAL_ERROR", "an unexpected error occurred; it has been logged")
