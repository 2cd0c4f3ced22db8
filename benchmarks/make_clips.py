"""Benchmark clips, generated here so anyone can rerun the benchmarks: the public-domain
astronaut portrait (scikit-image) drifting over a textured background, H.264 in MP4, encoded
like a phone camera (x264 'veryfast', a keyframe every 2 s, B-frames on)."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
from skimage import data as skdata

CACHE = Path(__file__).resolve().parent / ".cache"


def _background(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    noise = rng.integers(40, 200, (height // 8, width // 8, 3), dtype=np.uint8)
    return cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)


def make_clip(seconds: float, *, width: int = 1920, height: int = 1080, fps: int = 25) -> Path:
    """Cached: built once per (seconds, size, fps)."""
    path = CACHE / f"face_{width}x{height}_{fps}fps_{seconds:g}s.mp4"
    if path.is_file():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    face_side = height // 2
    face = cv2.resize(skdata.astronaut(), (face_side, face_side), interpolation=cv2.INTER_AREA)
    background = _background(width, height)
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream(
            "libx264", rate=fps, options={"preset": "veryfast", "crf": "23"}
        )
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = 2 * fps
        for i in range(int(seconds * fps)):
            frame = background.copy()
            phase = i / fps
            x = int((width - face_side) * (0.5 + 0.4 * np.sin(phase * 0.7)))
            y = int((height - face_side) * (0.5 + 0.3 * np.cos(phase * 0.5)))
            frame[y : y + face_side, x : x + face_side] = face
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)
    return path


def make_photo(side: int = 768) -> Path:
    path = CACHE / f"astronaut_{side}.jpg"
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        image = cv2.resize(skdata.astronaut(), (side, side), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(path), image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    return path
