from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from deepshield.engine.faces import Face, create_detector, crop_face, select_faces


@pytest.fixture(scope="module", params=["centerface", "haar"])
def detector(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return create_detector(request.param)


def three_faces(astronaut: np.ndarray) -> np.ndarray:
    """The astronaut three times at different sizes on a 1280x720 canvas."""
    canvas = np.full((720, 1280, 3), 90, np.uint8)
    for x, side in ((20, 400), (460, 320), (820, 260)):
        canvas[100 : 100 + side, x : x + side] = cv2.resize(astronaut, (side, side))
    return canvas


def test_finds_the_astronaut(detector, astronaut: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    faces = detector.detect(astronaut)
    assert len(faces) == 1
    x1, y1, x2, y2 = faces[0].box
    # the face is around x 180-270, y 60-180 in the 512 px original
    assert 150 < x1 < 210 and 240 < x2 < 300 and 30 < y1 < 100 and 140 < y2 < 200


def test_centerface_landmarks_sit_on_the_face(astronaut: np.ndarray) -> None:
    face = create_detector("centerface").detect(astronaut)[0]
    (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = face.landmarks
    x1, y1, x2, y2 = face.box
    assert all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in face.landmarks)
    assert lx < rx and mlx < mrx  # left before right, in image coordinates
    assert max(ly, ry) < ny < min(mly, mry)  # eyes above nose above mouth
    assert 0.5 < face.score <= 1.0


def test_no_face_in_face_free_images(detector) -> None:  # type: ignore[no-untyped-def]
    for image in (skdata.coffee(), skdata.rocket(), np.zeros((480, 640, 3), np.uint8)):
        assert detector.detect(np.ascontiguousarray(image)) == []


def test_every_face_of_a_group_is_found(astronaut: np.ndarray) -> None:
    """The default detector; the Haar baseline misses small faces (see the benchmark)."""
    faces = create_detector("centerface").detect(three_faces(astronaut))
    kept = select_faces(faces, min_relative_area=0.1, min_size=40)
    assert len(kept) == 3
    centres = sorted((f.box[0] + f.box[2]) / 2 for f in kept)
    assert centres[0] < 420 < centres[1] < 780 < centres[2]


def test_boxes_map_back_to_full_resolution(astronaut: np.ndarray) -> None:
    """Detection runs on a downscaled copy; boxes must come back in original pixels."""
    big = cv2.resize(astronaut, (2048, 2048))
    small_box = np.array(create_detector("centerface").detect(astronaut)[0].box)
    big_box = np.array(create_detector("centerface", max_side=640).detect(big)[0].box)
    assert np.allclose(big_box, small_box * 4, atol=2048 * 0.01)


def face(x1: float, y1: float, x2: float, y2: float) -> Face:
    return Face((x1, y1, x2, y2), 0.9, np.zeros((5, 2), np.float32))


def test_select_faces_keeps_every_large_enough_face() -> None:
    faces = [face(0, 0, 100, 100), face(200, 0, 240, 40), face(300, 0, 330, 30), face(0, 0, 10, 10)]
    kept = select_faces(faces, min_relative_area=0.1, min_size=20)
    assert [f.box for f in kept] == [faces[0].box, faces[1].box]  # 40x40 is 16% of the largest
    assert select_faces([face(0, 0, 10, 10)], min_relative_area=0.1, min_size=20) == []


def test_crop_is_square_with_margin_and_black_padding(astronaut: np.ndarray) -> None:
    corner = Face((0.0, 0.0, 100.0, 100.0), 0.9, np.array([[30, 40]] * 5, np.float32))
    crop = crop_face(astronaut, corner, size=224, margin=1.3)
    assert crop.pixels.shape == (224, 224, 3)
    assert crop.region == (-15, -15, 115, 115)
    assert crop.pixels[:20, :20].max() == 0  # outside the image: black
    expected = cv2.resize(astronaut[0:115, 0:115], (199, 199), interpolation=cv2.INTER_AREA)
    assert np.abs(crop.pixels[30:200, 30:200].astype(int) - expected[4:174, 4:174]).mean() < 6
    assert np.allclose(crop.landmarks[0], (np.array([30, 40]) + 15) * 224 / 130)


def test_detection_size_follows_the_smallest_face_worth_classifying() -> None:
    detector = create_detector("centerface", max_side=640, min_face_px=40)
    assert detector.detection_side(768, 768) == 320  # 768 * 16 / 40 = 307, floor 320
    assert detector.detection_side(1024, 1024) == 410  # a 40 px face still spans 16 px
    assert detector.detection_side(1080, 1920) == 640  # capped
    assert create_detector("centerface", max_side=640).detection_side(768, 768) == 640


def test_small_faces_in_a_large_frame_are_still_found(astronaut: np.ndarray) -> None:
    """A 1080p frame whose only face is about 60 px wide (searched at 640 px: 20 px there)."""
    frame = np.full((1080, 1920, 3), 100, np.uint8)
    tile = cv2.resize(astronaut[0:300, 100:400], (160, 160), interpolation=cv2.INTER_AREA)
    frame[500:660, 900:1060] = tile
    faces = create_detector("centerface", min_face_px=40).detect(frame)
    assert len(faces) == 1 and 920 < faces[0].box[0] < 960 and faces[0].width > 40


def on_canvas(astronaut: np.ndarray, x: int, y: int, side: int = 400) -> np.ndarray:
    canvas = np.full((1080, 1920, 3), 90, np.uint8)
    canvas[y : y + side, x : x + side] = cv2.resize(astronaut, (side, side))
    return canvas


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_searching_near_the_last_faces_finds_what_a_full_search_finds(
    astronaut: np.ndarray,
) -> None:
    detector = create_detector("centerface", min_face_px=40)
    previous = detector.detect(on_canvas(astronaut, 700, 400))
    moved = on_canvas(astronaut, 730, 380)  # the face moved a little since
    near, full = detector.detect_near(moved, previous), detector.detect(moved)
    assert len(near) == len(full) == 1
    assert box_iou(near[0].box, full[0].box) > 0.85


def test_a_face_far_from_the_last_ones_is_not_searched_for_nearby(
    astronaut: np.ndarray,
) -> None:
    detector = create_detector("centerface", min_face_px=40)
    previous = detector.detect(on_canvas(astronaut, 100, 100))
    elsewhere = on_canvas(astronaut, 1450, 620)
    assert detector.detect_near(elsewhere, previous) == []  # only a full search finds it
    assert len(detector.detect(elsewhere)) == 1


def test_a_large_face_gets_a_full_search_instead(astronaut: np.ndarray) -> None:
    detector = create_detector("centerface")
    previous = detector.detect(astronaut)  # the face is a large part of the image
    near, full = detector.detect_near(astronaut, previous), detector.detect(astronaut)
    assert len(near) == len(full) == 1 and box_iou(near[0].box, full[0].box) > 0.99
