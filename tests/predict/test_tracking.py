"""Tracker with a fake detector and a fake landmark model over a scripted scene."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from heatmark.errors import HeatmarkError
from heatmark.predict.faces import Face, FrameResult
from heatmark.predict.tracking import (
    Tracker,
    box_iou,
    inside_fraction,
    jitter,
    match_boxes,
    point_box,
    track,
)

WIDTH, HEIGHT, FPS = 320, 240, 30.0
# a face-like layout in the unit square (jaw, eyes, nose, mouth), spanning it exactly
TEMPLATE = np.array(
    [
        [0.0, 0.2],
        [0.1, 0.7],
        [0.5, 1.0],
        [0.9, 0.7],
        [1.0, 0.2],
        [0.3, 0.0],
        [0.7, 0.0],
        [0.5, 0.5],
        [0.35, 0.8],
        [0.65, 0.8],
    ]
)


@dataclass
class Person:
    """A face of ``size`` px whose top-left corner is at ``corner(frame)``."""

    corner: Callable[[int], tuple[float, float]]
    size: float = 80.0
    hidden: set[int] = field(default_factory=set)  # frames where nothing sees it
    occluded: set[int] = field(default_factory=set)  # frames where the model scores it low

    def points(self, frame: int) -> np.ndarray:
        return np.asarray(self.corner(frame), dtype=np.float64) + TEMPLATE * self.size

    def box(self, frame: int) -> np.ndarray:
        return point_box(self.points(frame))


class World:
    """Fake detector and landmark model that see the scripted ``people`` in frame ``frame``."""

    def __init__(self, people: list[Person], noise: float = 1.0, seed: int = 0) -> None:
        self.people = people
        self.noise = noise
        self.rng = np.random.default_rng(seed)
        self.frame = 0
        self.detect_frames: list[int] = []
        self.landmark_calls: list[tuple[int, np.ndarray]] = []
        self.outputs: list[Face] = []
        self.duplicate = False

    def visible(self) -> list[Person]:
        return [p for p in self.people if self.frame not in p.hidden]

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        assert rgb.shape == (HEIGHT, WIDTH, 3)
        self.detect_frames.append(self.frame)
        rows = []
        for person in self.visible():
            box = person.box(self.frame)
            if inside_fraction(box, WIDTH, HEIGHT) >= 0.6:
                rows.append([*(box + self.rng.normal(0, 2.0, 4)), 0.9])
                if self.duplicate:
                    rows.append([*(box + self.rng.normal(0, 2.0, 4)), 0.8])
        return np.array(rows).reshape(-1, 5)

    def landmark(self, rgb: np.ndarray, boxes: np.ndarray) -> list[Face]:
        assert boxes.ndim == 2 and boxes.shape[1] == 4
        faces = []
        for box in boxes:
            self.landmark_calls.append((self.frame, box.copy()))
            people = self.visible()
            ious = [box_iou(box, p.box(self.frame))[0, 0] for p in people]
            if people and max(ious) >= 0.2:
                person = people[int(np.argmax(ious))]
                points = person.points(self.frame) + self.rng.normal(0, self.noise, TEMPLATE.shape)
                inside = (points[:, 0] >= 0) & (points[:, 0] < WIDTH)
                inside &= (points[:, 1] >= 0) & (points[:, 1] < HEIGHT)
                scores = np.where(inside, 0.8, 0.05)
                if self.frame in person.occluded:
                    scores = np.full(len(points), 0.1)
            else:  # background: a guess inside the box, scored low
                points = box[:2] + TEMPLATE * (box[2:] - box[:2])
                scores = np.full(len(points), 0.05)
            face = Face(points=points, scores=scores, box=box.copy())
            self.outputs.append(face)
            faces.append(face)
        return faces


def run(world: World, tracker: Tracker, frames: int) -> list[FrameResult]:
    results = []
    rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    for i in range(frames):
        world.frame = i
        results.append(tracker.update(i, i / FPS, rgb))
    return results


def make_tracker(world: World, **options) -> Tracker:
    return Tracker(world.detect, world.landmark, **options)


def test_one_moving_face_keeps_its_id_and_its_points() -> None:
    person = Person(lambda i: (40.0 + 3.0 * i, 60.0 + 1.0 * i))
    world = World([person])
    results = run(world, make_tracker(world, redetect_every=10), 40)
    assert [len(r.faces) for r in results] == [1] * 40
    assert {r.faces[0].track_id for r in results} == {0}
    errors = [np.abs(r.faces[0].points - person.points(r.index)).max() for r in results]
    assert max(errors) < 5.0
    assert world.detect_frames == [0, 10, 20, 30]
    assert [r.detected for r in results] == [i % 10 == 0 for i in range(40)]
    face = results[5].faces[0]
    assert face.raw_points is None and face.detector_score == pytest.approx(0.9)


def test_tracked_frames_are_cropped_from_the_previous_raw_points() -> None:
    person = Person(lambda i: (50.0 + 2.0 * i, 70.0))
    world = World([person], noise=1.5)
    results = run(world, make_tracker(world, redetect_every=10, smooth=True), 15)
    # one crop per frame: frame 0's from the detection, frame 10's detection confirms the track
    assert [frame for frame, _ in world.landmark_calls] == list(range(15))
    for i in range(1, 15):
        previous = results[i - 1].faces[0]
        first_crop = world.landmark_calls[i][1]
        np.testing.assert_allclose(first_crop, point_box(previous.raw_points))
        if i > 1:  # (frame 0's smoothed points are its raw ones)
            assert not np.allclose(first_crop, point_box(previous.points))  # not the smoothed


def test_two_faces_get_two_stable_ids() -> None:
    left = Person(lambda i: (20.0 + 1.5 * i, 40.0), size=70.0)
    right = Person(lambda i: (220.0 - 1.5 * i, 120.0), size=90.0)
    world = World([left, right])
    results = run(world, make_tracker(world, redetect_every=5), 30)
    owner: dict[int, Person] = {}
    for r in results:
        assert sorted(f.track_id for f in r.faces) == [0, 1]
        for face in r.faces:
            nearest = min(
                (left, right), key=lambda p: np.abs(p.points(r.index) - face.points).max()
            )
            assert owner.setdefault(face.track_id, nearest) is nearest
    assert owner[0] is not owner[1]


def test_detector_runs_every_n_frames_and_when_a_score_drops() -> None:
    person = Person(lambda i: (100.0 + i, 80.0), occluded={13, 14})
    world = World([person])
    tracker = make_tracker(world, redetect_every=10)
    results = run(world, tracker, 40)
    assert world.detect_frames == [0, 10, 13, 14, 24, 34]
    assert tracker.detector_calls == 6
    assert {f.track_id for r in results for f in r.faces} == {0}  # confirmed, not restarted


def test_redetect_every_zero_detects_only_when_needed() -> None:
    world = World([Person(lambda i: (100.0, 80.0), occluded={7})])
    run(world, make_tracker(world, redetect_every=0), 20)
    assert world.detect_frames == [0, 7]


def test_a_face_leaving_the_frame_is_dropped() -> None:
    person = Person(lambda i: (150.0 + 8.0 * i, 90.0))
    world = World([person])
    tracker = make_tracker(world, redetect_every=10)
    results = run(world, tracker, 40)
    counts = [len(r.faces) for r in results]
    gone = next(i for i, r in enumerate(results) if not r.faces)
    assert counts[:10] == [1] * 10
    assert gone == 19  # from frame 19 less than min_inside (1/4) of its box is in the image
    assert (
        inside_fraction(person.box(19), WIDTH, HEIGHT)
        < 0.25
        < inside_fraction(person.box(18), WIDTH, HEIGHT)
    )
    assert counts[gone:] == [0] * (40 - gone)
    assert tracker.next_id == 1  # the background never started a track


def test_a_face_that_comes_back_gets_a_new_id() -> None:
    person = Person(lambda i: (100.0, 80.0), hidden=set(range(10, 20)))
    world = World([person])
    tracker = make_tracker(world, redetect_every=10, max_missed=3)
    results = run(world, tracker, 30)
    ids = [[f.track_id for f in r.faces] for r in results]
    assert ids[:10] == [[0]] * 10
    assert ids[12:20] == [[]] * 8  # dropped after 3 detector runs that did not find it
    assert ids[20:] == [[1]] * 10  # ids are never reused


def test_duplicate_detections_make_one_track() -> None:
    world = World([Person(lambda i: (100.0, 80.0))])
    world.duplicate = True
    tracker = make_tracker(world, redetect_every=5)
    results = run(world, tracker, 12)
    assert all([f.track_id for f in r.faces] == [0] for r in results)


def test_smoothing_reduces_jitter_on_a_still_face_and_keeps_raw_points() -> None:
    person = Person(lambda i: (100.0, 60.0), size=120.0)
    world = World([person], noise=1.5, seed=4)
    results = run(world, make_tracker(world, smooth=True), 60)
    raw = jitter(results, raw=True)
    smooth = jitter(results)
    assert smooth < 0.4 * raw
    assert raw == pytest.approx(1.5 * np.sqrt(np.pi), rel=0.25)  # E|a-b| of 2-D noise, sigma 1.5
    assert jitter(results, raw=True, normalize=True) == pytest.approx(raw / 120.0, rel=0.05)
    for r, out in zip(results, world.outputs, strict=True):  # one model output per frame
        face = r.faces[0]
        assert face.raw_points is not None and face.points is not face.raw_points
        np.testing.assert_array_equal(face.raw_points, out.points)
    late = results[30:]
    truth = person.points(0)
    raw_error = np.mean([np.abs(r.faces[0].raw_points - truth).mean() for r in late])
    smooth_error = np.mean([np.abs(r.faces[0].points - truth).mean() for r in late])
    assert smooth_error < 0.6 * raw_error


def test_track_generator_and_reset() -> None:
    world = World([Person(lambda i: (100.0, 80.0))])
    tracker = make_tracker(world)
    rgb = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    results = list(track(((i, i / FPS, rgb) for i in range(3)), tracker))
    assert [r.index for r in results] == [0, 1, 2]
    assert results[2].time == pytest.approx(2 / FPS)
    tracker.reset()
    assert tracker.tracks == [] and tracker.next_id == 0


def test_landmark_returning_the_wrong_count_is_an_error() -> None:
    def detect(rgb: np.ndarray) -> np.ndarray:
        return np.array([[10.0, 10.0, 50.0, 50.0, 0.9]])

    tracker = Tracker(detect, lambda rgb, boxes: [])
    with pytest.raises(HeatmarkError, match="returned 0 faces for 1 boxes"):
        tracker.update(0, 0.0, np.zeros((HEIGHT, WIDTH, 3), np.uint8))


def test_matching_maximises_total_iou() -> None:
    tracks = np.array([[0.0, 0.0, 10.0, 10.0], [3.0, 0.0, 13.0, 10.0]])
    detections = np.array([[2.0, 0.0, 12.0, 10.0], [-3.0, 0.0, 7.0, 10.0], [100, 100, 110, 110]])
    # greedy would give track 0 the best box (detection 0) and leave track 1 without a match
    assert sorted(match_boxes(tracks, detections, 0.3)) == [(0, 1), (1, 0)]
    assert match_boxes(tracks, np.zeros((0, 4)), 0.3) == []
    assert box_iou(np.full(4, np.nan), tracks).tolist() == [[0.0, 0.0]]


def test_jitter_measures_frame_to_frame_motion() -> None:
    def face(tid: int, dx: float) -> Face:
        return Face(
            points=TEMPLATE * 50 + [dx, 0.0], scores=np.ones(10), box=np.zeros(4), track_id=tid
        )

    results = [
        FrameResult(0, 0.0, [face(0, 0.0), face(1, 0.0)]),
        FrameResult(1, 0.1, [face(0, 3.0), face(1, 1.0)]),
        FrameResult(3, 0.3, [face(0, 100.0)]),  # not consecutive: no pair
    ]
    assert jitter(results) == pytest.approx(2.0)
    assert jitter(results, track_id=0) == pytest.approx(3.0)
    assert jitter(results, track_id=0, normalize=True) == pytest.approx(3.0 / 50)
    assert np.isnan(jitter(results[:1]))
    assert np.isnan(jitter(results, track_id=7))
