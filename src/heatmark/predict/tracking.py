"""Following faces through a video: detect sometimes, crop from the last points always.

Per frame, each track is cropped from the tight box of its previous (raw) points: the model was
trained on crops of landmark boxes, so its own points locate the next frame's face better, and
cheaper, than a detector. The detector runs on the first frame, every ``redetect_every``
frames, whenever there is no track, and whenever a track's mean landmark score falls below
``min_score`` (the model has lost the face). Its boxes are matched to the tracks by IoU
(Hungarian assignment): a matched track is confirmed (and restarted from the detection box if
its score was low), an unmatched detection starts a track with a new id (ids are never
reused), and a track left unconfirmed by ``max_missed`` detections in a row is dropped, as is a
track whose points leave the image. Optional One-Euro smoothing (``smooth=True``) changes the
output ``points`` only; the raw ones are kept in ``raw_points`` and are what the next crop uses.

``Tracker`` needs only two callables, so it runs with any detector and model (or test fakes):
``detect(rgb) -> (N, 5)`` boxes in the landmark-box convention plus a score, and
``landmark(rgb, boxes (M, 4)) -> list[Face]``, one face per box.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from heatmark.errors import HeatmarkError
from heatmark.predict.faces import Face, FrameResult
from heatmark.predict.smoothing import (
    DEFAULT_BETA,
    DEFAULT_D_CUTOFF,
    DEFAULT_MIN_CUTOFF,
    PointSmoother,
)

DetectFn = Callable[[np.ndarray], np.ndarray]
"""RGB uint8 (H, W, 3) -> (N, 5) ``x_min, y_min, x_max, y_max, score`` in landmark-box terms."""
LandmarkFn = Callable[[np.ndarray, np.ndarray], list[Face]]
"""RGB image and (M, 4) landmark boxes -> one ``Face`` (points, scores, box) per box."""


def point_box(points: np.ndarray) -> np.ndarray:
    """The tight box ``(x_min, y_min, x_max, y_max)`` of (K, 2) points (NaN if none finite)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    finite = points[np.all(np.isfinite(points), axis=1)]
    if not len(finite):
        return np.full(4, np.nan)
    return np.concatenate([finite.min(axis=0), finite.max(axis=0)])


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection over union of boxes ``a`` (N, 4) and ``b`` (M, 4); 0 for NaN boxes."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)[:, None, :]
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)[None, :, :]
    width = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    height = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    inter = np.clip(width, 0, None) * np.clip(height, 0, None)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / (area_a + area_b - inter)
    return np.where(np.isfinite(iou), iou, 0.0)


def match_boxes(a: np.ndarray, b: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of boxes ``a[i]``, ``b[j]`` maximising the total IoU (Hungarian), each
    box used once, only pairs with IoU >= ``min_iou``."""
    iou = box_iou(a, b)
    if iou.size == 0:
        return []
    weight = np.where(iou >= min_iou, iou, 0.0)
    rows, cols = linear_sum_assignment(weight, maximize=True)
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if iou[i, j] >= min_iou]


def inside_fraction(box: np.ndarray, width: int, height: int) -> float:
    """The fraction of ``box`` (widened to at least 1 px) inside a ``width`` x ``height`` image."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if not np.all(np.isfinite([x0, y0, x1, y1])):
        return 0.0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half_w, half_h = max(x1 - x0, 1.0) / 2, max(y1 - y0, 1.0) / 2
    x0, x1, y0, y1 = cx - half_w, cx + half_w, cy - half_h, cy + half_h
    inner_w = min(x1, width - 0.5) - max(x0, -0.5)
    inner_h = min(y1, height - 0.5) - max(y0, -0.5)
    return max(inner_w, 0.0) * max(inner_h, 0.0) / ((x1 - x0) * (y1 - y0))


@dataclass
class Track:
    """One followed face: its latest raw landmarks and bookkeeping."""

    track_id: int
    face: Face
    detector_score: float
    smoother: PointSmoother | None = None
    missed: int = 0  # detections in a row that did not confirm this track
    frames: int = 1  # frames followed

    @property
    def box(self) -> np.ndarray:
        """The tight box of the raw points: the next frame's crop and the box that is matched."""
        return point_box(self.face.points)


class Tracker:
    """Detect-and-follow landmark tracking of several faces, with stable track ids.

    Args:
        detect: ``rgb -> (N, 5)`` face boxes (landmark-box convention) and scores.
        landmark: ``(rgb, boxes (M, 4)) -> list[Face]``, one face per box, in order.
        redetect_every: run the detector every this many frames (0: only when needed). 10
            finds new faces within a third of a second at 30 fps at a tenth of the detector's
            cost.
        min_score: re-detect (and restart the track from its detection) when a track's mean
            landmark score falls below this. 0.25 is a quarter of a perfect heatmap peak: well
            below a found face's, above the model's answer on background.
        iou_match: least IoU between a detection and a track's point box for them to be the
            same face. Low (0.3) because detector and points differ a little and the face moves.
        max_missed: drop a track after this many detector runs in a row that did not find it
            (3: one or two missed detections do not break a track; a lost face, whose score
            drops, is re-detected every frame and so dropped within 3 frames).
        min_inside: drop a track when less than this fraction of its point box is inside the
            image (the face has left the frame).
        dedupe_iou: when two tracks' point boxes overlap more than this they follow one face;
            the newer track is dropped.
        smooth: One-Euro smoothing of the output points (``raw_points`` keeps the raw ones).
        min_cutoff: with ``beta`` and ``d_cutoff``, the ``PointSmoother``'s parameters.
        beta: the ``PointSmoother``'s ``beta`` (per face size per second).
        d_cutoff: the ``PointSmoother``'s ``d_cutoff``.

    Output faces carry ``track_id``, the score of the track's last matching detection as
    ``detector_score``, and (when smoothing) the smoothed ``points`` and the ``raw_points``.
    """

    def __init__(
        self,
        detect: DetectFn,
        landmark: LandmarkFn,
        *,
        redetect_every: int = 10,
        min_score: float = 0.25,
        iou_match: float = 0.3,
        max_missed: int = 3,
        min_inside: float = 0.25,
        dedupe_iou: float = 0.6,
        smooth: bool = False,
        min_cutoff: float = DEFAULT_MIN_CUTOFF,
        beta: float = DEFAULT_BETA,
        d_cutoff: float = DEFAULT_D_CUTOFF,
    ) -> None:
        if redetect_every < 0:
            raise HeatmarkError(f"redetect_every must be >= 0, got {redetect_every}")
        if max_missed < 1:
            raise HeatmarkError(f"max_missed must be >= 1, got {max_missed}")
        if not 0.0 < iou_match <= 1.0:
            raise HeatmarkError(f"iou_match must be in (0, 1], got {iou_match}")
        self.detect = detect
        self.landmark = landmark
        self.redetect_every = int(redetect_every)
        self.min_score = float(min_score)
        self.iou_match = float(iou_match)
        self.max_missed = int(max_missed)
        self.min_inside = float(min_inside)
        self.dedupe_iou = float(dedupe_iou)
        self.smooth = bool(smooth)
        self.smoothing = (float(min_cutoff), float(beta), float(d_cutoff))
        PointSmoother(*self.smoothing)  # validate the parameters now
        self.reset()

    def reset(self) -> None:
        """Forget all tracks (a new video): ids restart at 0."""
        self.tracks: list[Track] = []
        self.next_id = 0
        self.detector_calls = 0
        self._since_detect = 0

    # ------------------------------------------------------------------ helpers
    def _faces(self, rgb: np.ndarray, boxes: list[np.ndarray]) -> list[Face]:
        if not boxes:
            return []
        faces = list(self.landmark(rgb, np.stack(boxes).astype(np.float64)))
        if len(faces) != len(boxes):
            raise HeatmarkError(f"landmark() returned {len(faces)} faces for {len(boxes)} boxes")
        return faces

    def _good(self, face: Face) -> bool:
        points = np.asarray(face.points)
        return bool(
            points.size and np.all(np.isfinite(points)) and face.mean_score >= self.min_score
        )

    def _detections(self, rgb: np.ndarray) -> np.ndarray:
        found = np.asarray(self.detect(rgb), dtype=np.float64).reshape(-1, 5)
        keep = np.all(np.isfinite(found), axis=1)
        keep &= (found[:, 2] > found[:, 0]) & (found[:, 3] > found[:, 1])
        return found[keep]

    def _new_track(self, face: Face, score: float) -> Track:
        smoother = PointSmoother(*self.smoothing) if self.smooth else None
        track = Track(self.next_id, face, score, smoother)
        self.next_id += 1
        return track

    # ------------------------------------------------------------------ per frame
    def update(self, index: int, time: float, rgb: np.ndarray) -> FrameResult:
        """Landmarks of all followed faces in this frame (``time`` in seconds)."""
        height, width = rgb.shape[:2]
        self._since_detect += 1
        # 1. follow: crop every track from its previous points, all in one landmark call
        followed = self._faces(rgb, [t.box for t in self.tracks])
        for track, face in zip(self.tracks, followed, strict=True):
            track.face = face
            track.frames += 1
        # 2. detect on the first frame, every N frames, with no track, or when a score dropped
        due = self.redetect_every > 0 and self._since_detect >= self.redetect_every
        lost = any(not self._good(t.face) for t in self.tracks)
        detected = not self.tracks or due or lost
        if detected:
            self._associate(rgb, self._detections(rgb))
        # 3. drop the tracks that left the image or lost their points
        self.tracks = [
            t
            for t in self.tracks
            if t.missed < self.max_missed
            and np.all(np.isfinite(t.face.points))
            and inside_fraction(t.box, width, height) >= self.min_inside
        ]
        self._dedupe()
        return FrameResult(
            index, float(time), [self._output(t, time) for t in self.tracks], detected
        )

    def _associate(self, rgb: np.ndarray, detections: np.ndarray) -> None:
        """Confirm the tracks found by the detector, restart the lost ones, start new ones."""
        self.detector_calls += 1
        self._since_detect = 0
        tracks_boxes = np.array([t.box for t in self.tracks]).reshape(-1, 4)
        pairs = match_boxes(tracks_boxes, detections[:, :4], self.iou_match)
        matched = {i: j for i, j in pairs}
        restart: list[tuple[Track, int]] = []
        for i, track in enumerate(self.tracks):
            if i not in matched:
                track.missed += 1
                continue
            track.missed = 0
            track.detector_score = float(detections[matched[i], 4])
            if not self._good(track.face):
                restart.append((track, matched[i]))
        fresh = [j for j in range(len(detections)) if j not in matched.values()]
        wanted = [j for _, j in restart] + fresh
        faces = self._faces(rgb, [detections[j, :4] for j in wanted])
        for (track, _), face in zip(restart, faces[: len(restart)], strict=True):
            old = track.face
            if not np.all(np.isfinite(old.points)) or face.mean_score > old.mean_score:
                track.face = face
                if track.smoother is not None:
                    track.smoother.reset()  # the lost points are no history to smooth from
        for j, face in zip(fresh, faces[len(restart) :], strict=True):
            if np.asarray(face.points).size and np.all(np.isfinite(face.points)):
                self.tracks.append(self._new_track(face, float(detections[j, 4])))

    def _dedupe(self) -> None:
        """Keep one track per face: the older id, with the better of the two faces."""
        kept: list[Track] = []
        for track in sorted(self.tracks, key=lambda t: t.track_id):
            twin = next(
                (k for k in kept if box_iou(k.box, track.box)[0, 0] > self.dedupe_iou), None
            )
            if twin is None:
                kept.append(track)
            elif not self._good(twin.face) and track.face.mean_score > twin.face.mean_score:
                twin.face = track.face
        self.tracks = kept

    def _output(self, track: Track, time: float) -> Face:
        face = track.face
        raw = np.asarray(face.points, dtype=np.float64)
        points = track.smoother(raw, time) if track.smoother is not None else raw.copy()
        return Face(
            points=points,
            scores=np.asarray(face.scores, dtype=np.float64).copy(),
            box=np.asarray(face.box, dtype=np.float64).copy(),
            detector_score=track.detector_score,
            track_id=track.track_id,
            raw_points=raw.copy() if track.smoother is not None else None,
        )


def track(
    frames: Iterable[tuple[int, float, np.ndarray]], tracker: Tracker
) -> Iterator[FrameResult]:
    """``tracker.update`` on each ``(index, time_s, rgb)`` of ``frames`` (e.g. ``iter_frames``)."""
    for index, time, rgb in frames:
        yield tracker.update(index, time, rgb)


def jitter(
    results: Iterable[FrameResult],
    track_id: int | None = None,
    raw: bool = False,
    normalize: bool = False,
) -> float:
    """Mean frame-to-frame landmark motion: the jitter figure of docs/predict.md, on a still face.

    For each pair of consecutive frames (indices differing by 1) and each track present in both
    (only ``track_id`` if given), the mean over points of the distance each point moved; the
    average over all such pairs. On a still face all motion is jitter.

    Args:
        raw: measure ``raw_points`` (where present) instead of the output ``points``, so one
            smoothed run gives both numbers.
        normalize: divide each motion by the face size (longer side of the earlier frame's
            point box), making faces of any size comparable.

    Returns pixels (or face sizes); NaN when no track spans two consecutive frames.
    """

    def positions(result: FrameResult) -> dict[int, np.ndarray]:
        found = {}
        for face in result.faces:
            if face.track_id is None or (track_id is not None and face.track_id != track_id):
                continue
            chosen = face.raw_points if raw and face.raw_points is not None else face.points
            found[face.track_id] = np.asarray(chosen, dtype=np.float64).reshape(-1, 2)
        return found

    motions: list[float] = []
    previous: tuple[int, dict[int, np.ndarray]] | None = None
    for result in results:
        current = positions(result)
        if previous is not None and result.index == previous[0] + 1:
            for tid, points in current.items():
                before = previous[1].get(tid)
                if before is None or before.shape != points.shape:
                    continue
                step = np.linalg.norm(points - before, axis=1)
                step = step[np.isfinite(step)]
                if not len(step):
                    continue
                motion = float(step.mean())
                if normalize:
                    box = point_box(before)
                    size = float(np.max(box[2:] - box[:2]))
                    if not size > 0:
                        continue
                    motion /= size
                motions.append(motion)
        previous = (result.index, current)
    return float(np.mean(motions)) if motions else float("nan")
