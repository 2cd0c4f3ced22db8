"""``analyze`` end to end with the shipped detector and classifier on real media files."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from deepshield.config import Settings
from deepshield.engine import errors
from deepshield.engine.aggregate import MIN_JUDGED_FACE_PX_LOSSLESS
from deepshield.engine.analyze import FULL_SEARCH_EVERY, FULL_SEARCH_EVERY_MS, STAGES, Analyzer
from deepshield.engine.explain import WARM
from deepshield.training.sbi import self_blend
from tests.engine.test_faces import three_faces
from tests.fixtures.media_factory import (
    frame_with_index,
    read_index,
    truncate,
    with_half_size_copy,
    write_audio_only_mp4,
    write_bytes,
    write_image,
    write_png_bomb,
    write_video,
)

RESULT_FIELDS = {
    "final_score",
    "decision_threshold",
    "predicted_manipulation",
    "confidence_label",
    "confidence_explanation",
    "aggregation_method",
    "frames_sampled",
    "frames_with_face",
    "low_confidence",
    "low_confidence_reason",
    "top_k_suspicious",
    "per_frame",
    "people",
    "model_version",
    "pipeline_version",
    "processing_ms",
    "warnings",
    "media",
}


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(Settings(VIDEO_MAX_DURATION_SECONDS=20))


def talking_head(astronaut: np.ndarray, count: int = 40) -> list[np.ndarray]:
    """640x360 frames: the astronaut drifting right, frame index in the top-left cells."""
    frames = []
    face = cv2.resize(astronaut, (300, 300))
    for i in range(count):
        frame = np.full((360, 640, 3), 80, np.uint8)
        x = 150 + 4 * i
        frame[40:340, x : x + 300] = face
        frame[:16, :128] = frame_with_index(i, 128, 16)[:16, :128]
        frames.append(frame)
    return frames


def test_image_with_one_face(analyzer: Analyzer, astronaut: np.ndarray, tmp_path: Path) -> None:
    stages: list[str] = []
    large = cv2.resize(astronaut, (1024, 1024))  # a face large enough to judge in a JPEG
    path = write_image(tmp_path / "photo.jpg", large, quality=92)
    result = analyzer.analyze(
        path, artifacts_dir=tmp_path / "art", on_progress=lambda stage, _: stages.append(stage)
    ).to_dict()
    assert RESULT_FIELDS <= set(result)
    json.dumps(result)  # serialisable as it is
    assert (result["frames_sampled"], result["frames_with_face"], len(result["people"])) == (
        1,
        1,
        1,
    )
    assert not result["low_confidence"] and 0.0 <= result["final_score"] <= 1.0
    assert result["predicted_manipulation"] is (
        result["final_score"] >= result["decision_threshold"]
    )
    assert result["media"]["kind"] == "image" and result["media"]["width"] == 1024
    # stages only move forward
    order = [STAGES.index(s) for s in stages]
    assert order == sorted(order) and stages[0] == "validating" and stages[-1] == "explainability"
    top = result["top_k_suspicious"]
    assert len(top) == 1 and (tmp_path / "art" / top[0]["heatmap_overlay_url"]).is_file()


def test_heatmap_keeps_natural_colours_under_the_overlay(
    analyzer: Analyzer, astronaut: np.ndarray, tmp_path: Path
) -> None:
    # a face the model calls manipulated: the astronaut, self-blended (the real photo scores
    # ~0 and its map has no warm region at all)
    face = analyzer.detector.detect(astronaut)[0]
    blended = self_blend(astronaut, face.landmarks, np.random.default_rng(2)).fake
    path = write_image(tmp_path / "photo.png", blended)
    result = analyzer.analyze(path, artifacts_dir=tmp_path).to_dict()
    assert result["final_score"] > analyzer.threshold
    heatmap_name = result["top_k_suspicious"][0]["heatmap_overlay_url"]
    heatmap = np.asarray(Image.open(tmp_path / heatmap_name)).astype(int)
    crop = np.asarray(Image.open(tmp_path / heatmap_name.replace("_heatmap", "_crop"))).astype(int)
    same = np.all(heatmap == crop, axis=-1)
    assert 0.2 < same.mean() < 1.0  # cold regions untouched, hot regions coloured
    assert WARM > 0


def test_image_without_a_face_is_low_confidence(analyzer: Analyzer, tmp_path: Path) -> None:
    path = write_image(tmp_path / "coffee.jpg", np.ascontiguousarray(skdata.coffee()))
    result = analyzer.analyze(path).to_dict()
    assert result["low_confidence"] and result["low_confidence_reason"] == "no_face_detected"
    assert result["predicted_manipulation"] is None and result["final_score"] is None
    assert result["people"] == [] and result["top_k_suspicious"] == []


def test_small_faces_are_scored_but_not_judged(
    analyzer: Analyzer, astronaut: np.ndarray, tmp_path: Path
) -> None:
    # the genuine astronaut photo shrunk to half: its ~45 px face scores as fake (about 0.9),
    # as most real faces that small do (benchmarks/face_size.py)
    small, both_faces = with_half_size_copy(astronaut)
    alone = analyzer.analyze(write_image(tmp_path / "small.png", small)).to_dict()
    assert alone["low_confidence"] and alone["low_confidence_reason"] == "faces_too_small"
    assert alone["predicted_manipulation"] is None and alone["final_score"] is not None
    assert alone["people"][0]["face_px"] < MIN_JUDGED_FACE_PX_LOSSLESS
    # beside the full-size photo the large face decides and a warning names the small one
    both = analyzer.analyze(write_image(tmp_path / "both.png", both_faces)).to_dict()
    assert not both["low_confidence"] and both["predicted_manipulation"] is False
    small_person = min(both["people"], key=lambda p: p["face_px"])
    assert small_person["predicted_manipulation"] is None
    assert both["final_score"] < small_person["score"]
    assert any(f"under {MIN_JUDGED_FACE_PX_LOSSLESS} px" in w for w in both["warnings"])
    # the same 84 px face that is judged in a PNG is too small in a JPEG: compressed, real
    # faces that small mostly read as manipulated
    as_jpeg = analyzer.analyze(write_image(tmp_path / "photo.jpg", astronaut, quality=92))
    assert as_jpeg.low_confidence_reason == "faces_too_small"


def test_a_png_once_jpeg_is_judged_as_compressed_media(
    analyzer: Analyzer, astronaut: np.ndarray, tmp_path: Path
) -> None:
    # the 84 px face judged in the PNG of the photo (above) is too small once the same PNG
    # holds pixels decoded from a JPEG: a conversion keeps JPEG's blocks
    ok, encoded = cv2.imencode(".jpg", astronaut[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 70])
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1]
    converted = analyzer.analyze(write_image(tmp_path / "converted.png", decoded)).to_dict()
    assert converted["low_confidence_reason"] == "faces_too_small"
    assert converted["predicted_manipulation"] is None
    assert any("block grid of an earlier JPEG" in w for w in converted["warnings"])
    lossless = analyzer.analyze(write_image(tmp_path / "photo.png", astronaut)).to_dict()
    assert not lossless["low_confidence"] and lossless["predicted_manipulation"] is False
    assert not any("JPEG" in w for w in lossless["warnings"])


def test_image_with_three_faces_scores_three_people(
    analyzer: Analyzer, astronaut: np.ndarray, tmp_path: Path
) -> None:
    path = write_image(tmp_path / "group.png", three_faces(astronaut))
    result = analyzer.analyze(path).to_dict()
    assert len(result["people"]) == 3 and len(result["per_frame"]) == 3
    assert result["final_score"] == pytest.approx(max(p["score"] for p in result["people"]))


def test_video_frames_and_timestamps_match_the_source(
    analyzer: Analyzer, astronaut: np.ndarray, tmp_path: Path
) -> None:
    frames = talking_head(astronaut)
    path = write_video(tmp_path / "talk.mp4", frames, fps=20)
    result = analyzer.analyze(path, sample_frames=8).to_dict()
    assert result["frames_sampled"] == 8 and result["frames_with_face"] == 8
    assert [p["person_id"] for p in result["people"]] == [0]  # one person across all frames
    for entry in result["per_frame"]:
        assert entry["timestamp_ms"] == pytest.approx(entry["frame_index"] * 50.0, abs=0.5)
        x1 = entry["face_bbox"][0]
        assert 150 + 4 * entry["frame_index"] < x1 + 60  # the box follows the drifting face
    media = result["media"]
    assert (media["kind"], media["width"], media["height"], media["frame_count"]) == (
        "video",
        640,
        360,
        40,
    )


def test_a_video_is_opened_once_and_closed_after_analysis(
    analyzer: Analyzer, astronaut: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import av

    path = write_video(tmp_path / "talk.mp4", talking_head(astronaut, count=12), fps=12)
    opened: list[av.container.InputContainer] = []
    real_open = av.open

    def spy(*args: object, **kwargs: object) -> av.container.InputContainer:
        container = real_open(*args, **kwargs)  # type: ignore[call-overload]
        opened.append(container)
        return container

    monkeypatch.setattr(av, "open", spy)
    assert analyzer.analyze(path, sample_frames=4).frames_sampled == 4
    assert len(opened) == 1  # probing and sampling share one demuxer
    with pytest.raises(AssertionError, match="not open"):  # closed once the frames were read
        opened[0].seek(0)

    def fail_at_extraction(stage: str, percent: float) -> None:
        if stage == "frame_extraction":
            raise RuntimeError("progress store down")

    with pytest.raises(RuntimeError, match="progress store down"):
        analyzer.analyze(path, sample_frames=4, on_progress=fail_at_extraction)
    with pytest.raises(AssertionError, match="not open"):  # failed before any frame: closed too
        opened[1].seek(0)


@pytest.mark.parametrize(
    ("fps", "count", "enters_at"),
    [(12, 24, 5), (1, 20, 9)],  # frames 83 ms apart: the frame count decides; 1 s: the time
)
def test_a_person_entering_far_from_the_others_is_found_by_the_next_full_search(
    analyzer: Analyzer,
    astronaut: np.ndarray,
    tmp_path: Path,
    fps: int,
    count: int,
    enters_at: int,
) -> None:
    """Between full searches the detector looks near the last faces only; a second person
    appearing elsewhere is found at the next full search, at most FULL_SEARCH_EVERY sampled
    frames or FULL_SEARCH_EVERY_MS of video later, and is scored as a person of their own."""
    face = cv2.resize(astronaut, (300, 300))
    frames = []
    for i in range(count):
        canvas = np.full((720, 1280, 3), 90, np.uint8)
        canvas[20:320, 20:320] = face
        if i >= enters_at:
            canvas[400:700, 940:1240] = face
        frames.append(canvas)
    path = write_video(tmp_path / "enter.mp4", frames, fps=fps)
    result = analyzer.analyze(path, sample_frames=count).to_dict()
    assert len(result["people"]) == 2
    newcomer = [e for e in result["per_frame"] if e["face_bbox"][0] > 800]
    step_ms = 1000 / fps  # every frame is sampled
    by_count, by_time = FULL_SEARCH_EVERY * step_ms, FULL_SEARCH_EVERY_MS
    assert (by_time < by_count) == (fps == 1)  # each case exercises the rule it names
    bound_ms = min(by_count, by_time)
    assert newcomer and newcomer[0]["timestamp_ms"] <= enters_at * step_ms + bound_ms
    assert newcomer[0]["frame_index"] > enters_at  # found late: the window search missed it
    sampled = {e["frame_index"] for e in result["per_frame"]}  # the first person is in all
    found = {e["frame_index"] for e in newcomer}
    assert found == {i for i in sampled if i >= newcomer[0]["frame_index"]}  # followed once found


def test_sampled_frame_pixels_are_the_indexed_frames(astronaut: np.ndarray, tmp_path: Path) -> None:
    """The engine's sampler hands the detector the very frame the index names."""
    from deepshield.engine.video import sample_video_frames

    path = write_video(tmp_path / "talk.mp4", talking_head(astronaut), fps=20)
    for frame in sample_video_frames(path, 8):
        assert read_index(frame.image[:16, :128]) == frame.index


def test_video_with_a_face_in_few_frames_is_inconclusive(
    analyzer: Analyzer, astronaut: np.ndarray, tmp_path: Path
) -> None:
    frames = talking_head(astronaut, 40)
    empty = [np.full_like(frames[0], 80) for _ in range(34)]
    path = write_video(tmp_path / "mostly_empty.mp4", frames[:6] + empty, fps=20)
    result = analyzer.analyze(path, sample_frames=16).to_dict()
    assert result["frames_with_face"] < 4
    assert (
        result["low_confidence"] and result["low_confidence_reason"] == "too_few_frames_with_face"
    )
    assert result["predicted_manipulation"] is None


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda d, img: write_bytes(d / "zero.mp4", b""), errors.EMPTY_FILE),
        (
            lambda d, img: write_bytes(d / "text.jpg", "just text, renamed\n"),
            errors.UNSUPPORTED_MEDIA_TYPE,
        ),
        (lambda d, img: write_png_bomb(d / "bomb.png"), errors.IMAGE_TOO_LARGE),
        (lambda d, img: write_audio_only_mp4(d / "audio.mp4"), errors.NO_VIDEO_STREAM),
        (
            lambda d, img: truncate(
                write_video(d / "ok.mp4", [img] * 30, fps=10), d / "cut.mp4", 0.3
            ),
            errors.CORRUPT_VIDEO,
        ),
        (
            lambda d, img: write_video(d / "long.mp4", [img[:64, :64]] * 250, fps=10),
            errors.VIDEO_TOO_LONG,
        ),
    ],
    ids=[
        "zero-byte",
        "text-renamed-jpg",
        "png-bomb",
        "no-video-stream",
        "truncated-mp4",
        "too-long",
    ],
)
def test_bad_inputs_raise_clear_errors(
    analyzer: Analyzer, astronaut: np.ndarray, tmp_path: Path, make, code: str
) -> None:  # type: ignore[no-untyped-def]
    path = make(tmp_path, astronaut)
    with pytest.raises(errors.MediaError) as caught:
        analyzer.analyze(path)
    assert caught.value.code == code


def test_fps_sampling_takes_one_frame_per_interval_without_a_false_warning(
    astronaut: np.ndarray, tmp_path: Path
) -> None:
    path = write_video(tmp_path / "talk.mp4", talking_head(astronaut, 40), fps=10)  # 4 s
    analyzer = Analyzer(Settings(VIDEO_SAMPLE_FPS=2, VIDEO_MAX_FRAMES=32))
    result = analyzer.analyze(path).to_dict()
    assert result["frames_sampled"] == 8
    assert [f["frame_index"] for f in result["per_frame"]] == [2, 7, 12, 17, 22, 27, 32, 37]
    assert result["warnings"] == []
    capped = Analyzer(Settings(VIDEO_SAMPLE_FPS=10, VIDEO_MAX_FRAMES=5)).analyze(path).to_dict()
    assert capped["frames_sampled"] == 5  # over the cap, spread uniformly instead


def test_only_the_top_k_crops_are_kept_and_they_are_the_right_ones(
    analyzer: Analyzer, astronaut: np.ndarray
) -> None:
    from deepshield.engine.analyze import _BatchedScores

    rng = np.random.default_rng(0)
    size = analyzer.classifier.input_size
    crops = [
        np.ascontiguousarray(cv2.resize(astronaut, (size, size)))
        if i % 3 == 0
        else rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        for i in range(39)
    ]
    best = int(np.argmax(analyzer.classifier.predict(np.stack(crops)).p_fake))
    crops.append(crops[best].copy())  # 40 crops: full batches, and a tie for the top score
    assert len(crops) > 4 * analyzer.classifier.batch_size  # kept across many batches
    scores = _BatchedScores(analyzer.classifier, keep_crops=5)
    for crop in crops:
        scores.add(crop)
    p_fake = scores.finish().p_fake
    assert p_fake[best] == p_fake[-1]
    kept = scores.kept_crops()
    expected = sorted(range(len(crops)), key=lambda i: -p_fake[i])[:5]
    assert sorted(kept) == sorted(expected)
    for i in expected:
        assert kept[i] is crops[i]
    only_one = _BatchedScores(analyzer.classifier, keep_crops=1)
    for crop in crops:
        only_one.add(crop)
    only_one.finish()
    assert list(only_one.kept_crops()) == [best]  # of equal scores the earlier face is kept
    assert not _BatchedScores(analyzer.classifier, keep_crops=0).kept_crops()
