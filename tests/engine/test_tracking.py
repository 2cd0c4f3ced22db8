from __future__ import annotations

import numpy as np

from deepshield.engine.faces import Face
from deepshield.engine.tracking import FaceTracker, iou


def face_at(x: float, y: float, side: float = 100) -> Face:
    return Face((x, y, x + side, y + side), 0.9, np.zeros((5, 2), np.float32))


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == 5 * 10 / 150


def test_two_moving_people_keep_their_ids() -> None:
    tracker = FaceTracker()
    seen = []
    for step in range(10):
        # listed in alternating order, so ids cannot come from list position
        faces = [face_at(100 + 30 * step, 100), face_at(900 - 30 * step, 120)]
        if step % 2:
            faces.reverse()
        ids = tracker.update(faces, [2 * step, 2 * step + 1])
        seen.append(dict(zip((f.box[0] for f in faces), ids, strict=True)))
    for step, mapping in enumerate(seen):
        assert mapping[100 + 30 * step] == 0 and mapping[900 - 30 * step] == 1
    assert [len(t.detections) for t in tracker.tracks] == [10, 10]


def test_a_fast_move_without_overlap_still_links_by_centre_distance() -> None:
    tracker = FaceTracker()
    assert tracker.update([face_at(100, 100)], [0]) == [0]
    assert tracker.update([face_at(160, 110)], [1]) == [0]  # IoU ~0.2 or less, centre close


def test_a_person_who_leaves_briefly_returns_with_the_same_id() -> None:
    tracker = FaceTracker()
    tracker.update([face_at(100, 100)], [0])
    tracker.update([], [])
    tracker.update([], [])
    assert tracker.update([face_at(105, 100)], [1]) == [0]


def test_a_stranger_far_away_is_a_new_person() -> None:
    tracker = FaceTracker()
    tracker.update([face_at(100, 100)], [0])
    assert tracker.update([face_at(100, 100), face_at(700, 400)], [1, 2]) == [0, 1]
