"""Upload intake: extension allow-list, streamed copy to a UUID-named file with byte counting
(the app's body limit already stops oversized requests while they arrive), magic bytes, then a
real parse by the engine. Any rejection removes the file; nothing half-stored remains."""

from __future__ import annotations

import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from deepshield.engine.errors import MediaError
from deepshield.engine.media import IMAGE_SUFFIXES, load_image, sniff_kind
from deepshield.engine.video import VIDEO_SUFFIXES, sample_video_frames
from deepshield.service.errors import ApiError, from_media_error
from deepshield.storage import Storage

CHUNK = 1024 * 1024
EXTENSIONS = {"image": IMAGE_SUFFIXES, "video": VIDEO_SUFFIXES}


@dataclass(frozen=True)
class SavedUpload:
    upload_name: str
    path: Path
    size_bytes: int
    original_name: str


def display_name(filename: str | None) -> str:
    """The client's file name reduced to a harmless base name, for display only."""
    raw = filename or "upload"
    base = PureWindowsPath(PurePosixPath(raw).name).name
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"/\\|?*').strip(" .")
    return cleaned[:200] or "upload"


async def save_upload(
    file: UploadFile, *, kind: str, storage: Storage, max_bytes: int, max_duration_s: float
) -> SavedUpload:
    name = display_name(file.filename)
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in EXTENSIONS[kind]:
        allowed = ", ".join(sorted(EXTENSIONS[kind]))
        raise ApiError(
            415, "UNSUPPORTED_EXTENSION", f"'{suffix or name}' is not accepted here; use {allowed}"
        )
    upload_name = f"{uuid.uuid4().hex}{suffix}"
    path = storage.upload_path(upload_name)
    try:
        size = await _copy_counting(file, path, max_bytes)
        if size == 0:
            raise ApiError(400, "EMPTY_FILE", "the uploaded file is empty")
        await run_in_threadpool(_validate_media, path, kind, max_duration_s, name)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return SavedUpload(upload_name, path, size, name)


async def _copy_counting(file: UploadFile, path: Path, max_bytes: int) -> int:
    size = 0
    with path.open("xb") as out:
        while chunk := await file.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise ApiError(
                    413,
                    "FILE_TOO_LARGE",
                    f"the file is larger than {max_bytes // (1024 * 1024)} MB",
                )
            out.write(chunk)
    return size


def _validate_media(path: Path, kind: str, max_duration_s: float, display: str) -> None:
    """Magic bytes must match the route's kind, then the engine must really parse the file.
    Engine messages name the stored file; the client sees its own file name instead."""
    try:
        if sniff_kind(path) != kind:
            article = "an" if kind == "image" else "a"
            raise ApiError(
                415, "UNSUPPORTED_MEDIA_TYPE", f"the file's content is not {article} {kind}"
            )
        if kind == "image":
            load_image(path)
        else:
            # the sampler checks the header limits first, then must decode one real frame
            with closing(sample_video_frames(path, 1, max_duration_s=max_duration_s)) as frames:
                if next(frames, None) is None:
                    raise ApiError(422, "CORRUPT_VIDEO", "no frame of the video could be decoded")
    except MediaError as exc:  # never show the client where files are stored
        message = exc.message.replace(str(path), display).replace(path.name, display)
        raise from_media_error(MediaError(exc.code, message)) from exc
