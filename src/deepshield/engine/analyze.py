"""``analyze(path, settings, on_progress)``: one media file in, one :class:`AnalysisResult` out.

Validating -> frame extraction -> face detection (frames stream through; none is kept) ->
inference (batched) -> aggregation -> explainability (heatmap PNGs for the top-K faces).
The CLI, the API's job runner and the tests all call this same function.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from deepshield.config import Settings
from deepshield.engine.aggregate import (
    DEFAULT_METHOD,
    MIN_JUDGED_FACE_PX_COMPRESSED,
    MIN_JUDGED_FACE_PX_LOSSLESS,
    FrameScore,
    aggregate,
)
from deepshield.engine.classifier import FaceClassifier, Predictions
from deepshield.engine.explain import heat_from_cam, overlay, save_png
from deepshield.engine.faces import (
    Face,
    FaceDetector,
    create_detector,
    crop_face,
    select_faces,
)
from deepshield.engine.jpeg_traces import has_jpeg_traces
from deepshield.engine.media import is_lossless_image, load_image, sniff_kind
from deepshield.engine.prefetch import prefetch
from deepshield.engine.tracking import FaceTracker
from deepshield.engine.video import Frame, OpenVideo, sample_targets

# 0.2.0: faces too small for their media get no verdict (people[].face_px, faces_too_small)
PIPELINE_VERSION = "0.2.0"
PNG_WRITERS = 2  # threads writing heatmap and crop PNGs
# Between whole-frame face searches, video frames are searched only near the last faces. A whole
# frame is searched at least every FULL_SEARCH_EVERY sampled frames and every
# FULL_SEARCH_EVERY_MS of video, so someone who enters elsewhere is found within that.
FULL_SEARCH_EVERY = 8
FULL_SEARCH_EVERY_MS = 4000.0
STAGES = (
    "validating",
    "frame_extraction",
    "face_detection",
    "inference",
    "aggregation",
    "explainability",
    "saving_results",
)
ProgressCallback = Callable[[str, float], None]  # stage, percent of the whole analysis
HEATMAP_SUFFIX, CROP_SUFFIX = "_heatmap.png", "_crop.png"  # artifact names: <stem><suffix>


@dataclass
class AnalysisResult:
    final_score: float | None
    decision_threshold: float
    predicted_manipulation: bool | None
    confidence_label: str
    confidence_explanation: str
    aggregation_method: str
    frames_sampled: int
    frames_with_face: int
    low_confidence: bool
    low_confidence_reason: str | None
    top_k_suspicious: list[dict[str, Any]]
    per_frame: list[dict[str, Any]]
    people: list[dict[str, Any]]
    model_version: str
    pipeline_version: str
    processing_ms: float
    media: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Detection:
    frame_index: int
    timestamp_ms: float
    person_id: int
    bbox: tuple[float, float, float, float]


class Analyzer:
    """Holds the face detector and classifier, loaded once and shared by every call."""

    def __init__(
        self,
        settings: Settings,
        *,
        detector: FaceDetector | None = None,
        classifier: FaceClassifier | None = None,
    ) -> None:
        self.settings = settings
        self.detector = detector or create_detector(
            settings.face_detector,
            min_confidence=settings.face_min_confidence,
            max_side=settings.face_detect_max_side,
            threads=settings.infer_threads,
            min_face_px=settings.face_min_face_size,
        )
        self.classifier = classifier or FaceClassifier(
            settings.deepshield_model_path,
            threads=settings.infer_threads,
            batch_size=settings.infer_batch_size,
        )

    @property
    def threshold(self) -> float:
        override = self.settings.infer_fake_decision_threshold
        return self.classifier.threshold if override is None else override

    def analyze(
        self,
        path: Path,
        *,
        on_progress: ProgressCallback | None = None,
        artifacts_dir: Path | None = None,
        top_k: int | None = None,
        sample_frames: int | None = None,
    ) -> AnalysisResult:
        started = time.perf_counter()
        report = on_progress or (lambda stage, percent: None)
        path = Path(path)
        report("validating", 0.0)
        kind = sniff_kind(path)
        frames_wanted = sample_frames or self.settings.video_max_frames
        media: dict[str, Any] = {
            "kind": kind,
            "file_name": path.name,
            "file_size_bytes": path.stat().st_size,
        }
        video: OpenVideo | None = None
        lossless, once_compressed = False, False
        if kind == "image":
            image = load_image(path)
            media.update(width=image.shape[1], height=image.shape[0])
            # a lossless file may hold pixels that were JPEG once: judged as compressed then
            lossless_file = is_lossless_image(path)
            once_compressed = lossless_file and has_jpeg_traces(image)
            lossless = lossless_file and not once_compressed
            frames: Generator[Frame] = (frame for frame in [Frame(0, 0.0, image)])
            expected = 1
        else:
            video = OpenVideo(path, max_duration_s=self.settings.video_max_duration_seconds)
            info = video.info
            media.update(
                width=info.width,
                height=info.height,
                duration_s=round(info.duration_s, 3),
                fps=round(info.fps, 3),
                frame_count=info.frame_count,
                codec=info.codec,
                container=info.container,
            )
            fps = self.settings.video_sample_fps
            # decoding the next frames (in the prefetch thread, which then closes the video)
            # overlaps with face detection on this one
            frames = prefetch(video.frames(frames_wanted, fps=fps))
            expected = len(sample_targets(info.duration_s, frames_wanted, fps))
        k = self.settings.infer_top_k_explainability if top_k is None else top_k
        classified = _BatchedScores(self.classifier, keep_crops=k if artifacts_dir else 0)
        try:
            report("frame_extraction", 5.0)
            with closing(frames):  # on any error, stop the prefetch thread and the decoder now
                detections, frames_sampled = self._detect(frames, expected, report, classified)
        finally:
            if video is not None and not video.started:
                video.close()  # failed before the first frame: no other thread holds the video
        report("inference", 70.0)
        predictions = classified.finish()
        report("aggregation", 85.0)
        scores = [
            FrameScore(d.frame_index, d.timestamp_ms, d.person_id, float(p), d.bbox)
            for d, p in zip(detections, predictions.p_fake, strict=True)
        ]
        min_face_px = MIN_JUDGED_FACE_PX_LOSSLESS if lossless else MIN_JUDGED_FACE_PX_COMPRESSED
        verdict = aggregate(
            scores,
            frames_sampled=frames_sampled,
            threshold=self.threshold,
            method=DEFAULT_METHOD,
            min_face_px=min_face_px,
        )
        report("explainability", 88.0)
        top = self._explain(scores, classified.kept_crops(), predictions.cams, k, artifacts_dir)
        warnings = []
        if once_compressed:
            warnings.append(
                "the image is stored losslessly but shows the 8x8 block grid of an earlier JPEG "
                f"compression: judged as compressed media (faces under {min_face_px} px are "
                "scored but not judged)"
            )
        if kind == "video" and frames_sampled < expected:
            warnings.append(
                f"only {frames_sampled} distinct frames could be sampled (asked for {expected})"
            )
        small = [p for p in verdict.people if p.face_px < min_face_px]
        if small and not verdict.low_confidence:
            warnings.append(
                f"faces under {min_face_px} px for {len(small)} of {len(verdict.people)} "
                f"people ({'lossless' if lossless else 'compressed'} media): scored but not "
                "judged; the verdict rests on the larger faces"
            )
        return AnalysisResult(
            **{k: v for k, v in asdict(verdict).items() if k != "people"},
            frames_sampled=frames_sampled,
            frames_with_face=len({d.frame_index for d in detections}),
            top_k_suspicious=top,
            per_frame=[
                {
                    "frame_index": s.frame_index,
                    "timestamp_ms": round(s.timestamp_ms, 1),
                    "p_fake": s.p_fake,
                    "face_bbox": [round(v, 1) for v in s.face_bbox],
                    "person_id": s.person_id,
                }
                for s in scores
            ],
            people=[asdict(p) for p in verdict.people],
            model_version=self.classifier.card.model_version,
            pipeline_version=PIPELINE_VERSION,
            processing_ms=round((time.perf_counter() - started) * 1000, 1),
            media=media,
            warnings=warnings,
        )

    def _explain(
        self,
        scores: list[FrameScore],
        crops: dict[int, np.ndarray],
        cams: np.ndarray,
        top_k: int,
        artifacts_dir: Path | None,
    ) -> list[dict[str, Any]]:
        """The ``top_k`` most suspicious faces; heatmap and plain crop PNGs when asked (``crops``
        holds the crops of at least those faces, by detection index)."""
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i].p_fake)[:top_k]
        names: list[str | None] = [None] * len(ranked)
        if artifacts_dir is not None and ranked:
            stems = [
                f"top{rank}_frame{scores[i].frame_index}_person{scores[i].person_id}"
                for rank, i in enumerate(ranked, start=1)
            ]
            # PNG encoding releases the GIL, so the files are written side by side
            with ThreadPoolExecutor(max_workers=PNG_WRITERS) as pool:
                plain_writes = [
                    pool.submit(save_png, artifacts_dir / f"{stem}{CROP_SUFFIX}", crops[i])
                    for stem, i in zip(stems, ranked, strict=True)
                ]
                overlays = [
                    pool.submit(
                        self._save_overlay,
                        artifacts_dir / f"{stem}{HEATMAP_SUFFIX}",
                        crops[i],
                        cams[i],
                    )
                    for stem, i in zip(stems, ranked, strict=True)
                ]
                for future in plain_writes:
                    future.result()  # raises what the writer raised
                names = [future.result().name for future in overlays]
        return [
            {
                "frame_index": scores[i].frame_index,
                "timestamp_ms": round(scores[i].timestamp_ms, 1),
                "p_fake": scores[i].p_fake,
                "person_id": scores[i].person_id,
                "heatmap_overlay_url": name,
            }
            for i, name in zip(ranked, names, strict=True)
        ]

    def _save_overlay(self, path: Path, crop: np.ndarray, cam: np.ndarray) -> Path:
        return save_png(path, overlay(crop, heat_from_cam(cam, self.classifier.input_size)))

    def _detect(
        self,
        frames: Iterator[Frame],
        expected: int,
        report: ProgressCallback,
        classified: _BatchedScores,
    ) -> tuple[list[_Detection], int]:
        """Faces of every frame, linked into people; each crop is handed to ``classified`` at
        once, so classification runs while the next frames are still being decoded."""
        tracker = FaceTracker()
        detections: list[_Detection] = []
        sampled = 0
        report("face_detection", 5.0)
        faces: list[Face] = []
        last_full: tuple[int, float] | None = None  # (sampled count, timestamp) of the last one
        for frame in frames:
            sampled += 1
            if (
                faces
                and last_full is not None
                and sampled - last_full[0] < FULL_SEARCH_EVERY
                and frame.timestamp_ms - last_full[1] < FULL_SEARCH_EVERY_MS
            ):
                found = self.detector.detect_near(frame.image, faces)
            else:
                found = self.detector.detect(frame.image)
                last_full = (sampled, frame.timestamp_ms)
            faces = select_faces(
                found,
                min_relative_area=self.settings.face_min_relative_area,
                min_size=self.settings.face_min_face_size,
            )
            ids = list(range(len(detections), len(detections) + len(faces)))
            for face, person in zip(faces, tracker.update(faces, ids), strict=True):
                crop = crop_face(frame.image, face, size=self.classifier.input_size)
                detections.append(_Detection(frame.index, frame.timestamp_ms, person, face.box))
                classified.add(crop.pixels)
            report("face_detection", 5.0 + 65.0 * min(sampled / expected, 1.0))
        return detections, sampled


class _BatchedScores:
    """Collects face crops and classifies them a batch at a time as they arrive. Only the crops
    of the ``keep_crops`` most suspicious faces so far are kept (for their heatmaps), so memory
    stays flat however long the video."""

    def __init__(self, classifier: FaceClassifier, keep_crops: int) -> None:
        self.classifier = classifier
        self.pending: list[np.ndarray] = []
        self.parts: list[Predictions] = []
        self.keep_crops = keep_crops
        self.classified = 0
        # min-heap of (p_fake, -index, crop): the least suspicious kept face is dropped first,
        # and of equal scores the later one, as the ranking of the top K puts earlier ones first
        self.kept: list[tuple[float, int, np.ndarray]] = []

    def add(self, crop: np.ndarray) -> None:
        self.pending.append(crop)
        if len(self.pending) >= self.classifier.batch_size:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        predictions = self.classifier.predict(np.stack(self.pending))
        self.parts.append(predictions)
        for crop, p_fake in zip(self.pending, predictions.p_fake, strict=True):
            item = (float(p_fake), -self.classified, crop)
            self.classified += 1
            if len(self.kept) < self.keep_crops:
                heapq.heappush(self.kept, item)
            elif self.kept and item[:2] > self.kept[0][:2]:
                heapq.heapreplace(self.kept, item)
        self.pending = []

    def kept_crops(self) -> dict[int, np.ndarray]:
        """Crops of the most suspicious faces, by detection index (call after ``finish``)."""
        return {-negative_index: crop for _, negative_index, crop in self.kept}

    def finish(self) -> Predictions:
        self._flush()
        if not self.parts:
            size = self.classifier.input_size
            return self.classifier.predict(np.zeros((0, size, size, 3), np.uint8))
        return Predictions(
            p_fake=np.concatenate([p.p_fake for p in self.parts]),
            margins=np.concatenate([p.margins for p in self.parts]),
            cams=np.concatenate([p.cams for p in self.parts]),
        )


@lru_cache(maxsize=4)
def analyzer_for(settings: Settings) -> Analyzer:
    """One :class:`Analyzer` per (frozen, hashable) settings object, built on first use."""
    return Analyzer(settings)


def analyze(
    path: Path,
    settings: Settings,
    on_progress: ProgressCallback | None = None,
    *,
    artifacts_dir: Path | None = None,
) -> AnalysisResult:
    """Analyse one file; the detector and classifier are loaded once per settings object."""
    return analyzer_for(settings).analyze(
        path, on_progress=on_progress, artifacts_dir=artifacts_dir
    )
