"""Errors the engine raises for bad input, each with a stable machine-readable code."""

from __future__ import annotations


class MediaError(ValueError):
    """Input that cannot be analysed. ``code`` is stable; ``message`` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# stable codes (the API will map them to HTTP statuses)
FILE_NOT_FOUND = "FILE_NOT_FOUND"
EMPTY_FILE = "EMPTY_FILE"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
CORRUPT_IMAGE = "CORRUPT_IMAGE"
IMAGE_TOO_LARGE = "IMAGE_TOO_LARGE"
CORRUPT_VIDEO = "CORRUPT_VIDEO"
NO_VIDEO_STREAM = "NO_VIDEO_STREAM"
VIDEO_TOO_LONG = "VIDEO_TOO_LONG"
VIDEO_TOO_LARGE = "VIDEO_TOO_LARGE"
