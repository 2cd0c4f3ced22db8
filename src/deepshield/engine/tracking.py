"""Link faces across sampled frames into people.

Greedy association by IoU, falling back to centre distance relative to face size (sampled
frames can be a second apart, so boxes of a moving person may not overlap). At a few faces per
frame, greedy matching on the best score first is as good as the Hungarian algorithm and needs
no extra dependency.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deepshield.engine.faces import Face

MIN_IOU = 0.2
MAX_CENTRE_DISTANCE = 0.75  # in units of the track's face size
MAX_GAP_FRAMES = 8  # sampled frames a person may be missing before the track is closed


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _centre_distance(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float]
) -> float:
    """Distance between box centres divided by the mean side of box ``a``."""
    ax, ay = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    bx, by = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    size = max(((a[2] - a[0]) + (a[3] - a[1])) / 2, 1.0)
    return float(((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5 / size)


def _affinity(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """> 0 when two boxes plausibly show the same person; higher is more likely."""
    overlap = iou(a, b)
    if overlap >= MIN_IOU:
        return 1.0 + overlap
    distance = _centre_distance(a, b)
    return 1.0 - distance / MAX_CENTRE_DISTANCE if distance < MAX_CENTRE_DISTANCE else 0.0


@dataclass
class Track:
    person_id: int
    last_box: tuple[float, float, float, float]
    last_seen: int  # position in the sequence of sampled frames
    detections: list[int] = field(default_factory=list)  # ids given by the caller


class FaceTracker:
    """Feed the faces of each sampled frame in order; read ``person_id`` for each face back."""

    def __init__(self) -> None:
        self.tracks: list[Track] = []
        self._step = -1

    def update(self, faces: list[Face], detection_ids: list[int]) -> list[int]:
        """Assign a person id to each face of the next sampled frame."""
        self._step += 1
        live = [t for t in self.tracks if self._step - t.last_seen <= MAX_GAP_FRAMES]
        pairs = sorted(
            (
                (_affinity(track.last_box, face.box), t_index, f_index)
                for t_index, track in enumerate(live)
                for f_index, face in enumerate(faces)
            ),
            reverse=True,
        )
        assigned: dict[int, Track] = {}
        used_tracks: set[int] = set()
        for score, t_index, f_index in pairs:
            if score <= 0 or t_index in used_tracks or f_index in assigned:
                continue
            used_tracks.add(t_index)
            assigned[f_index] = live[t_index]
        person_ids = []
        for f_index, face in enumerate(faces):
            track = assigned.get(f_index)
            if track is None:
                track = Track(person_id=len(self.tracks), last_box=face.box, last_seen=self._step)
                self.tracks.append(track)
            track.last_box, track.last_seen = face.box, self._step
            track.detections.append(detection_ids[f_index])
            person_ids.append(track.person_id)
        return person_ids
