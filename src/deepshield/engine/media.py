"""Decoding of media files. Images: Pillow restricted to JPEG, PNG and WebP, with a pixel limit
below Pillow's own. (Video decoding arrives with the scan engine.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from deepshield.engine import errors
from deepshield.engine.video import VIDEO_SUFFIXES, demuxer_for

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
MEDIA_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES  # for finding media in folders by name
EXIF_ORIENTATION = 0x0112
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE_PIXELS = 50_000_000  # ~ 8660 x 5770; Pillow's default is 89 M and only warns


def load_image(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """RGB uint8 array (H, W, 3) of an image file, EXIF orientation applied.

    Raises :class:`MediaError` with a stable code for anything that is not a readable JPEG,
    PNG or WebP within the pixel limit."""
    path = Path(path)
    if not path.is_file():
        raise errors.MediaError(errors.FILE_NOT_FOUND, f"{path}: no such file")
    if path.stat().st_size == 0:
        raise errors.MediaError(errors.EMPTY_FILE, f"{path}: the file is empty")
    try:
        # Opening reads the header only; the size is checked before any pixel is decoded. No
        # warnings.catch_warnings() here: it swaps the process's filters, and this runs in job
        # threads beside the web server's, whose own catch_warnings blocks it would undo.
        with Image.open(path, formats=IMAGE_FORMATS) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise errors.MediaError(
                    errors.IMAGE_TOO_LARGE,
                    f"{path}: {width}x{height} pixels is over the limit of {max_pixels}",
                )
            image.load()
            # each of these copies the whole picture: only when it changes something
            upright = (
                ImageOps.exif_transpose(image)
                if image.getexif().get(EXIF_ORIENTATION, 1) != 1
                else image
            )
            rgb = upright if upright.mode == "RGB" else upright.convert("RGB")
            return np.asarray(rgb)
    # Pillow refuses over twice its own limit (89 M pixels) and warns between once and twice,
    # an error where a filter says so; our lower limit refuses all of these anyway
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise errors.MediaError(errors.IMAGE_TOO_LARGE, f"{path}: {exc}") from exc
    except UnidentifiedImageError as exc:
        if _image_magic(path):  # says it is one of ours, but Pillow cannot make sense of it
            raise errors.MediaError(errors.CORRUPT_IMAGE, f"{path}: unreadable image") from exc
        raise errors.MediaError(
            errors.UNSUPPORTED_MEDIA_TYPE, f"{path}: not a JPEG, PNG or WebP image"
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, errors.MediaError):
            raise
        raise errors.MediaError(errors.CORRUPT_IMAGE, f"{path}: unreadable image ({exc})") from exc


def sniff_kind(path: Path) -> str:
    """``"image"`` or ``"video"`` from the file's magic bytes; the name is never trusted."""
    path = Path(path)
    if not path.is_file():
        raise errors.MediaError(errors.FILE_NOT_FOUND, f"{path}: no such file")
    head = _head(path)
    if not head:
        raise errors.MediaError(errors.EMPTY_FILE, f"{path.name}: the file is empty")
    if _is_image_head(head):
        return "image"
    if demuxer_for(head) is not None:
        return "video"
    raise errors.MediaError(
        errors.UNSUPPORTED_MEDIA_TYPE,
        f"{path.name}: not a supported image (JPEG, PNG, WebP) or video (MP4, MOV, WebM, MKV)",
    )


def is_lossless_image(path: Path) -> bool:
    """PNG, or WebP in its simple lossless (VP8L) form, by the file's first bytes: images whose
    pixels carry no compression artefacts. Extended WebP (VP8X: alpha, metadata) counts as
    compressed without looking further, which only errs on the cautious side."""
    head = _head(Path(path))
    return head.startswith(PNG_MAGIC) or (head[:4] == b"RIFF" and head[8:16] == b"WEBPVP8L")


def _is_image_head(head: bytes) -> bool:
    return head.startswith((b"\xff\xd8\xff", PNG_MAGIC)) or (
        head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    )


def _image_magic(path: Path) -> bool:
    return _is_image_head(_head(path))


def _head(path: Path) -> bytes:
    """The first bytes of a file, enough for every signature checked here."""
    with path.open("rb") as handle:
        return handle.read(16)
