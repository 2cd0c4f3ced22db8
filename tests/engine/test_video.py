from __future__ import annotations

from pathlib import Path

import pytest

from deepshield.engine import errors
from deepshield.engine.video import probe_video, sample_video_frames, uniform_targets
from tests.fixtures.media_factory import (
    read_index,
    truncate,
    write_audio_only_mp4,
    write_bytes,
    write_video,
)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 s at 25 fps, 50 frames, each carrying its own index; keyframe every 12 frames."""
    return write_video(tmp_path_factory.mktemp("v") / "clip.mp4", count=50, fps=25)


def test_probe_reads_header(clip: Path) -> None:
    info = probe_video(clip)
    assert (info.width, info.height) == (256, 160)
    assert info.fps == pytest.approx(25)
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    assert info.frame_count == 50
    assert info.container.startswith("mov")


@pytest.mark.parametrize("count", [1, 5, 8, 32])
def test_sampled_frames_carry_the_index_and_time_of_the_source(clip: Path, count: int) -> None:
    frames = list(sample_video_frames(clip, count))
    assert len(frames) == count
    for frame, target in zip(frames, uniform_targets(2.0, count), strict=True):
        assert read_index(frame.image) == frame.index  # the pixels are the frame the index names
        assert frame.timestamp_ms == pytest.approx(frame.index * 40.0, abs=0.5)
        assert abs(frame.timestamp_ms / 1000 - target) <= 0.5 / 25 + 1e-6  # nearest frame
    assert [f.index for f in frames] == sorted({f.index for f in frames})


def test_more_samples_than_frames_yields_each_frame_once(tmp_path: Path) -> None:
    short = write_video(tmp_path / "short.mp4", count=6, fps=25)
    frames = list(sample_video_frames(short, 32))
    assert [f.index for f in frames] == list(range(6))
    assert [read_index(f.image) for f in frames] == list(range(6))


def test_mov_and_mkv_containers(tmp_path: Path) -> None:
    for name in ("c.mov", "c.mkv"):
        frames = list(sample_video_frames(write_video(tmp_path / name, count=20), 4))
        assert [read_index(f.image) for f in frames] == [f.index for f in frames]


def test_too_long_video_is_refused_before_decoding(clip: Path) -> None:
    with pytest.raises(errors.MediaError) as caught:
        probe_video(clip, max_duration_s=1.0)
    assert caught.value.code == errors.VIDEO_TOO_LONG
    with pytest.raises(errors.MediaError):
        next(iter(sample_video_frames(clip, 4, max_duration_s=1.0)))


def test_resolution_limit(clip: Path) -> None:
    with pytest.raises(errors.MediaError) as caught:
        probe_video(clip, max_pixels=100 * 100)
    assert caught.value.code == errors.VIDEO_TOO_LARGE


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda d, clip: write_bytes(d / "z.mp4", b""), errors.EMPTY_FILE),
        (lambda d, clip: truncate(clip, d / "cut.mp4", keep=0.3), errors.CORRUPT_VIDEO),
        (lambda d, clip: write_audio_only_mp4(d / "audio.mp4"), errors.NO_VIDEO_STREAM),
        (
            lambda d, clip: write_bytes(
                d / "list.mp4", "#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n"
            ),
            errors.UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            lambda d, clip: write_bytes(
                d / "concat.mp4", "ffconcat version 1.0\nfile '/etc/passwd'\n"
            ),
            errors.UNSUPPORTED_MEDIA_TYPE,
        ),
    ],
    ids=["zero-byte", "truncated-mp4", "no-video-stream", "hls-playlist", "concat-list"],
)
def test_bad_videos_raise_stable_codes(tmp_path: Path, clip: Path, make, code: str) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path, clip)
    with pytest.raises(errors.MediaError) as caught:
        list(sample_video_frames(path, 8))
    assert caught.value.code == code
