"""Self-blended images (Shiohara & Yamasaki, CVPR 2022): pseudo face-swaps made from one real
face, so a detector learns the generic traces of blending (boundaries, colour and sharpness
mismatch) without ever seeing a real deepfake.

Recipe (DESIGN.md section 3), for a face crop and its 5 landmarks:
1. source and target start as copies of the image; one of them gets colour shifts (RGB,
   hue/saturation/value, brightness/contrast) and a down-and-up resample or a sharpen;
2. the source is shifted and scaled slightly;
3. a mask is drawn from the landmarks extended to the face outline (convex hull) or from an
   ellipse around them, deformed elastically, eroded or dilated, blurred, scaled by an opacity;
4. fake = mask * source + (1 - mask) * target. Outside the mask the fake equals the target
   bit for bit; the tests check exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

OPACITIES = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)


@dataclass(frozen=True)
class BlendResult:
    fake: np.ndarray  # uint8 RGB, same shape as the input
    mask: np.ndarray  # float32 in [0, 1]: weight of the source at each pixel
    target: np.ndarray  # uint8 RGB the source was blended into (the fake's background)


def _odd(value: float) -> int:
    return max(1, int(value) // 2 * 2 + 1)


def alter_appearance(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour shifts, then a down-and-up resample or a sharpen."""
    out = image.astype(np.float32)
    out += rng.uniform(-20, 20, size=3).astype(np.float32)  # RGB shift
    hsv = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-8, 8)) % 180
    hsv[..., 1:] *= rng.uniform(0.8, 1.2, size=2).astype(np.float32)
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    contrast, brightness = rng.uniform(0.85, 1.15), rng.uniform(-20, 20)
    out = (out - 128) * contrast + 128 + brightness
    altered = np.clip(out, 0, 255).astype(np.uint8)
    height, width = altered.shape[:2]
    if rng.random() < 0.5:
        factor = rng.uniform(0.3, 0.8)
        small = cv2.resize(altered, (max(1, int(width * factor)), max(1, int(height * factor))))
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    blurred = cv2.GaussianBlur(altered, (0, 0), sigmaX=rng.uniform(0.8, 2.0))
    amount = rng.uniform(0.5, 1.5)
    return cv2.addWeighted(altered, 1 + amount, blurred, -amount, 0)


def shift_and_scale(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    scale = rng.uniform(0.95, 1.05)
    dx, dy = rng.uniform(-0.03, 0.03, size=2) * (width, height)
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 0.0, scale)
    matrix[:, 2] += (dx, dy)
    return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)


def outline_points(landmarks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The 5 landmarks (eyes, nose, mouth corners) extended towards forehead, cheeks and chin."""
    left_eye, right_eye, nose, mouth_left, mouth_right = landmarks.astype(np.float32)
    eyes = (left_eye + right_eye) / 2
    mouth = (mouth_left + mouth_right) / 2
    down = mouth - eyes  # eye-to-mouth vector
    across = right_eye - left_eye
    reach = rng.uniform(0.7, 1.1)
    points = [
        eyes - down * rng.uniform(0.4, 0.8),  # forehead
        left_eye - across * 0.45 * reach - down * 0.2,
        right_eye + across * 0.45 * reach - down * 0.2,
        mouth_left - across * 0.35 * reach,
        mouth_right + across * 0.35 * reach,
        mouth + down * rng.uniform(0.5, 0.9),  # chin
        nose,
    ]
    return np.array(points, dtype=np.float32)


def draw_mask(
    shape: tuple[int, int], landmarks: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Soft blend mask in [0, 1]: hull or ellipse, elastic warp, erode/dilate, blur, opacity."""
    height, width = shape
    mask: np.ndarray = np.zeros((height, width), np.float32)
    points = outline_points(landmarks, rng)
    if rng.random() < 0.5:
        cv2.fillConvexPoly(mask, cv2.convexHull(points.astype(np.int32)), 1.0)
    else:
        (cx, cy), (w, h), angle = cv2.minAreaRect(points)
        axes = (
            max(1, int(w / 2 * rng.uniform(0.9, 1.1))),
            max(1, int(h / 2 * rng.uniform(0.9, 1.1))),
        )
        cv2.ellipse(mask, (int(cx), int(cy)), axes, angle, 0, 360, 1.0, thickness=-1)
    face_size = float(np.linalg.norm(points.max(0) - points.min(0)))
    mask = _elastic(mask, rng, alpha=face_size * 0.06, sigma=face_size * 0.08)
    kernel = np.ones((_odd(face_size * rng.uniform(0.02, 0.1)),) * 2, np.uint8)
    mask = cv2.erode(mask, kernel) if rng.random() < 0.5 else cv2.dilate(mask, kernel)
    for _ in range(2):
        mask = cv2.GaussianBlur(mask, (_odd(face_size * rng.uniform(0.05, 0.25)),) * 2, 0)
    peak = float(mask.max())
    if peak <= 0:
        return mask
    mask = mask / peak * rng.choice(OPACITIES)
    mask[mask < 1e-3] = 0.0  # below one grey level: treat as outside the mask
    return mask.astype(np.float32)


def _elastic(mask: np.ndarray, rng: np.random.Generator, alpha: float, sigma: float) -> np.ndarray:
    height, width = mask.shape
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, (height, width)).astype(np.float32), (0, 0), sigma)
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, (height, width)).astype(np.float32), (0, 0), sigma)
    norm = max(float(np.abs(dx).max()), float(np.abs(dy).max()), 1e-6)
    grid_x, grid_y = np.meshgrid(
        np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32)
    )
    map_x = (grid_x + dx / norm * alpha).astype(np.float32)
    map_y = (grid_y + dy / norm * alpha).astype(np.float32)
    return np.asarray(cv2.remap(mask, map_x, map_y, cv2.INTER_LINEAR, borderValue=0), np.float32)


def self_blend(image: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator) -> BlendResult:
    """One pseudo-fake from a real RGB uint8 face crop and its (5, 2) landmarks."""
    source, target = image.copy(), image.copy()
    if rng.random() < 0.5:
        source = alter_appearance(source, rng)
    else:
        target = alter_appearance(target, rng)
    source = shift_and_scale(source, rng)
    mask = draw_mask(image.shape[:2], landmarks, rng)
    weight = mask[..., None]
    blended = weight * source.astype(np.float32) + (1 - weight) * target.astype(np.float32)
    fake = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return BlendResult(fake=fake, mask=mask, target=target)
