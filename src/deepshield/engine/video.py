"""Video probing and frame sampling with PyAV.

Safety: the container type is sniffed from magic bytes and the matching demuxer is forced, so
FFmpeg never guesses (an HLS or concat playlist renamed .mp4 is refused, not followed), and the
file is opened with only the ``file`` protocol allowed. Limits (duration, resolution) are
checked from the header before any frame is decoded.

Sampling: ``uniform`` N timestamps over the duration. Each target is reached by decoding forward
when it is close ahead, or by seeking to the keyframe before it otherwise. A long video is never
decoded whole and frames are yielded one at a time (never all held in memory). (Skipping H.264
non-reference frames on the way was tried and removed: under frame threading it returned
pictures that did not match their timestamps.)
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from deepshield.engine import errors

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv"})
MAX_VIDEO_PIXELS = 4096 * 2304
SEEK_INSTEAD_AFTER_S = 2.0  # a target further ahead than this is reached by seeking


@dataclass(frozen=True)
class VideoInfo:
    container: str
    codec: str
    width: int
    height: int
    duration_s: float
    fps: float
    frame_count: int  # estimated from duration and frame rate when the header has none


@dataclass(frozen=True)
class Frame:
    index: int  # position in the source video (0-based), from the stream timestamp
    timestamp_ms: float
    image: np.ndarray  # RGB uint8


def demuxer_for(head: bytes) -> str | None:
    """The FFmpeg demuxer for a file's first bytes: ``mov`` (MP4/MOV), ``matroska`` or None."""
    if len(head) >= 8 and head[4:8] in {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"}:
        return "mov"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"
    return None


def sniff_container(path: Path) -> str:
    with path.open("rb") as handle:
        demuxer = demuxer_for(handle.read(16))
    if demuxer is None:
        raise errors.MediaError(
            errors.UNSUPPORTED_MEDIA_TYPE, f"{path.name}: not an MP4, MOV, WebM or MKV video"
        )
    return demuxer


def _open(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise errors.MediaError(errors.FILE_NOT_FOUND, f"{path}: no such file")
    if path.stat().st_size == 0:
        raise errors.MediaError(errors.EMPTY_FILE, f"{path}: the file is empty")
    demuxer = sniff_container(path)
    try:
        return av.open(str(path), format=demuxer, options={"protocol_whitelist": "file"})
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise errors.MediaError(
            errors.CORRUPT_VIDEO, f"{path.name}: unreadable video ({exc})"
        ) from exc


def _video_stream(
    container: av.container.InputContainer, path: Path
) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise errors.MediaError(
            errors.NO_VIDEO_STREAM, f"{path.name}: the file has no video stream"
        )
    return container.streams.video[0]


def _info(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, path: Path
) -> VideoInfo:
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    else:
        duration = 0.0
    rate = stream.average_rate or stream.guessed_rate or Fraction(0)
    fps = float(rate)
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0 or duration <= 0 or fps <= 0:
        raise errors.MediaError(
            errors.CORRUPT_VIDEO, f"{path.name}: the video header is incomplete"
        )
    frames = stream.frames or round(duration * fps)
    return VideoInfo(
        container.format.name, stream.codec_context.name, width, height, duration, fps, frames
    )


class OpenVideo:
    """A video opened once and checked against the limits: its header facts at once, its sampled
    frames later from the same demuxer (opening an MP4 costs tens of milliseconds, as FFmpeg
    reads the first frames to learn the stream's format). Once :meth:`frames` has started, the
    video is closed by that generator (at its end, or when it is closed), in whichever thread
    iterates it; before that, :meth:`close` closes it."""

    def __init__(
        self,
        path: Path,
        *,
        max_duration_s: float | None = None,
        max_pixels: int = MAX_VIDEO_PIXELS,
    ) -> None:
        self.path = Path(path)
        self.started = False  # whether frames() has begun, and so owns the closing
        self._container = _open(self.path)
        try:
            self._stream = _video_stream(self._container, self.path)
            self.info = _info(self._container, self._stream, self.path)
            _check_limits(self.info, self.path, max_duration_s, max_pixels)
        except BaseException:
            self._container.close()
            raise

    def frames(self, count: int, *, fps: float | None = None) -> Generator[Frame, None, None]:
        """Up to ``count`` frames (uniformly, or at ``fps``) in time order, one at a time."""
        self.started = True
        try:
            self._stream.thread_type = "AUTO"
            targets = sample_targets(self.info.duration_s, count, fps)
            yield from _frames_at(self._container, self._stream, self.info, targets, self.path)
        finally:
            self.close()

    def close(self) -> None:
        self._container.close()  # a second close does nothing


def probe_video(
    path: Path, *, max_duration_s: float | None = None, max_pixels: int = MAX_VIDEO_PIXELS
) -> VideoInfo:
    """Header facts of a video, after checking it against the limits; decodes nothing."""
    video = OpenVideo(path, max_duration_s=max_duration_s, max_pixels=max_pixels)
    video.close()
    return video.info


def _check_limits(
    info: VideoInfo, path: Path, max_duration_s: float | None, max_pixels: int
) -> None:
    if max_duration_s is not None and info.duration_s > max_duration_s:
        raise errors.MediaError(
            errors.VIDEO_TOO_LONG,
            f"{path.name}: {info.duration_s:.1f} s is longer than the "
            f"limit of {max_duration_s:.0f} s",
        )
    if info.width * info.height > max_pixels:
        raise errors.MediaError(
            errors.VIDEO_TOO_LARGE,
            f"{path.name}: {info.width}x{info.height} is over the resolution limit",
        )


def uniform_targets(duration_s: float, count: int) -> list[float]:
    """``count`` timestamps (seconds) at the centres of equal slices of the video."""
    return [(i + 0.5) * duration_s / count for i in range(count)]


def sample_targets(duration_s: float, count: int, fps: float | None = None) -> list[float]:
    """Uniform ``count`` targets, or one every ``1/fps`` seconds capped at ``count`` (beyond the
    cap the targets spread uniformly, so a long video is still covered end to end)."""
    if fps is None:
        return uniform_targets(duration_s, count)
    step = 1.0 / fps
    n = max(1, int(duration_s * fps))
    if n > count:
        return uniform_targets(duration_s, count)
    return [min((i + 0.5) * step, duration_s) for i in range(n)]


def sample_video_frames(
    path: Path,
    count: int,
    *,
    fps: float | None = None,
    max_duration_s: float | None = None,
    max_pixels: int = MAX_VIDEO_PIXELS,
) -> Generator[Frame, None, None]:
    """Yield up to ``count`` frames (uniformly, or at ``fps``) in time order, one at a time. The
    file is opened and checked on the first ``next``."""
    video = OpenVideo(path, max_duration_s=max_duration_s, max_pixels=max_pixels)
    yield from video.frames(count, fps=fps)


def _frames_at(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    info: VideoInfo,
    targets: list[float],
    path: Path,
) -> Iterator[Frame]:
    time_base = float(stream.time_base or Fraction(1, 1000))
    start = (stream.start_time or 0) * time_base
    half_frame = 0.5 / info.fps
    decoder: Iterator[av.VideoFrame] | None = None
    position = -1.0  # time of the last decoded frame
    last_index = -1
    try:
        for target in targets:
            if decoder is not None and target <= position + half_frame:
                continue  # the frame nearest this target was yielded already (very short video)
            if decoder is None or target - position > SEEK_INSTEAD_AFTER_S:
                container.seek(int((start + target) / time_base), stream=stream, backward=True)
                decoder = container.decode(stream)
            for frame in decoder:
                if frame.pts is None:
                    continue
                position = frame.pts * time_base - start
                if position + half_frame >= target:
                    break
            else:
                return  # the stream ended before the target (duration overstated)
            index = round(position * info.fps)
            if index <= last_index:
                continue  # never yield a frame twice or out of order
            last_index = index
            yield Frame(index, position * 1000.0, frame.to_ndarray(format="rgb24"))
    except av.FFmpegError as exc:
        raise errors.MediaError(
            errors.CORRUPT_VIDEO, f"{path.name}: decoding failed ({exc})"
        ) from exc
