"""``heatmark demo``'s first half: the shipped model on a real photo and clips, offline."""

import json
from pathlib import Path

import cv2
from rich.console import Console

from heatmark.predict.showcase import run_showcase


def test_showcase_finds_the_portrait_and_smoothing_cuts_jitter(tmp_path: Path) -> None:
    summary = run_showcase(tmp_path, Console(quiet=True))
    assert summary["faces_in_photo"] == 1
    assert summary["clip_frames_with_a_face"] == summary["clip_frames"]
    assert len(summary["clip_track_ids"]) == 1  # one face followed by one track
    assert summary["jitter_still_face_smoothed"] < 0.5 * summary["jitter_still_face_raw"]
    assert cv2.imread(str(tmp_path / "photo_landmarks.jpg")) is not None
    document = json.loads((tmp_path / "photo_predictions.json").read_text())
    assert len(document["images"]["grace_hopper"]["faces"][0]["points"]) == 68
    capture = cv2.VideoCapture(str(tmp_path / "clip_landmarks.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == summary["clip_frames"]
    capture.release()
