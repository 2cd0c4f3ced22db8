from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepshield.engine import errors
from deepshield.engine.media import is_lossless_image, load_image
from tests.fixtures.media_factory import truncate, write_bytes, write_image, write_png_bomb


def test_loads_jpeg_and_png_as_rgb(tmp_path: Path, astronaut: np.ndarray) -> None:
    for name in ("a.jpg", "a.png", "a.webp"):
        image = load_image(write_image(tmp_path / name, astronaut))
        assert image.shape == astronaut.shape and image.dtype == np.uint8
    assert np.array_equal(load_image(tmp_path / "a.png"), astronaut)  # PNG is lossless


@pytest.mark.parametrize(
    ("name", "save_args", "lossless"),
    [
        ("a.png", {}, True),
        ("a.webp", {"lossless": True}, True),
        ("a.webp", {"quality": 95}, False),
        ("a.jpg", {"quality": 100}, False),
    ],
)
def test_lossless_images_are_told_from_compressed_ones(
    tmp_path: Path, astronaut: np.ndarray, name: str, save_args: dict[str, object], lossless: bool
) -> None:
    path = write_image(tmp_path / name, astronaut, **save_args)
    assert is_lossless_image(path) is lossless
    # a JPEG renamed to .png is still compressed: the bytes decide, not the name
    renamed = write_bytes(tmp_path / "renamed.png", (tmp_path / name).read_bytes())
    assert is_lossless_image(renamed) is lossless


def test_applies_exif_orientation(tmp_path: Path, astronaut: np.ndarray) -> None:
    from PIL import Image

    wide = astronaut[:300]
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    Image.fromarray(wide).save(tmp_path / "rot.jpg", exif=exif)
    assert load_image(tmp_path / "rot.jpg").shape == (512, 300, 3)


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda d, img: write_bytes(d / "empty.jpg", b""), errors.EMPTY_FILE),
        (lambda d, img: d / "missing.png", errors.FILE_NOT_FOUND),
        (
            lambda d, img: write_bytes(d / "text.jpg", "hello, I am not a picture\n"),
            errors.UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            lambda d, img: write_image(d / "anim.gif", img),
            errors.UNSUPPORTED_MEDIA_TYPE,
        ),
        (lambda d, img: write_png_bomb(d / "bomb.png"), errors.IMAGE_TOO_LARGE),
        (
            lambda d, img: truncate(write_image(d / "full.jpg", img), d / "cut.jpg", keep=0.3),
            errors.CORRUPT_IMAGE,
        ),
        (
            lambda d, img: truncate(write_image(d / "full.png", img), d / "cut.png", keep=0.3),
            errors.CORRUPT_IMAGE,
        ),
    ],
    ids=[
        "zero-byte",
        "missing",
        "text-renamed-jpg",
        "gif",
        "png-bomb",
        "truncated-jpeg",
        "truncated-png",
    ],
)
def test_bad_images_raise_stable_codes(
    tmp_path: Path, astronaut: np.ndarray, make, code: str
) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path, astronaut)
    with pytest.raises(errors.MediaError) as caught:
        load_image(path)
    assert caught.value.code == code
    assert str(path.name) in caught.value.message


def test_pixel_limit_is_configurable(tmp_path: Path, astronaut: np.ndarray) -> None:
    path = write_image(tmp_path / "a.png", astronaut)
    with pytest.raises(errors.MediaError) as caught:
        load_image(path, max_pixels=512 * 511)
    assert caught.value.code == errors.IMAGE_TOO_LARGE


@pytest.mark.parametrize("side", [9_000, 10_000, 30_000])  # under, inside, over Pillow's band
def test_size_limit_leaves_warning_filters_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, side: int
) -> None:
    """Images load in job threads beside the web server's: swapping the process's warning
    filters there undid FastAPI's own suppression in another thread, a race that once failed
    a request. Every size band is refused without touching the filters: our limit (50 M
    pixels), Pillow's warning band (89-179 M) and its hard limit."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("load_image swapped the warning filters")

    path = write_png_bomb(tmp_path / "big.png", side, side)
    monkeypatch.setattr("warnings.catch_warnings", forbidden)
    with pytest.raises(errors.MediaError) as caught:
        load_image(path)
    assert caught.value.code == errors.IMAGE_TOO_LARGE


def test_pillow_warning_band_is_refused_where_warnings_only_print(tmp_path: Path) -> None:
    """Outside the test suite's error filter Pillow only warns at 100 M pixels: our limit
    refuses the image all the same."""
    path = write_png_bomb(tmp_path / "big.png", 10_000, 10_000)
    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(errors.MediaError) as caught:
        load_image(path)
    assert caught.value.code == errors.IMAGE_TOO_LARGE
