"""The first half of ``make demo``: the shipped model on a real photo and a clip, offline.

The photo is matplotlib's sample ``grace_hopper.jpg`` (a public-domain portrait that a
dependency already ships, so nothing is downloaded). The clip is made from it by a smooth
synthetic camera motion (pan, zoom, slight roll). A second clip holds the camera still and adds
sensor noise to every frame: the frame-to-frame motion of the landmarks there is pure jitter,
measured with and without One-Euro smoothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console

from heatmark.data.geometry import similarity_about
from heatmark.data.sample import read_image
from heatmark.predict.draw import draw_faces
from heatmark.predict.output import ImageRecord, write_json
from heatmark.predict.predictor import Predictor
from heatmark.predict.tracking import jitter
from heatmark.predict.video import VideoWriter

FRAMES = 48
FPS = 24.0


def sample_portrait() -> Path:
    """matplotlib's public-domain sample portrait (Grace Hopper)."""
    import matplotlib.cbook

    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def camera_motion(image: np.ndarray, frames: int = FRAMES) -> list[np.ndarray]:
    """Frames of a smooth synthetic camera move over ``image`` (pan, zoom in and out, roll)."""
    height, width = image.shape[:2]
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    clip = []
    for t in np.linspace(0.0, 1.0, frames):
        angle = 6.0 * np.sin(2 * np.pi * t)
        scale = 1.0 + 0.12 * np.sin(np.pi * t)
        shift = (0.06 * width * np.sin(2 * np.pi * t), 0.04 * height * np.cos(2 * np.pi * t))
        matrix = similarity_about(centre, angle, scale, shift)
        clip.append(
            cv2.warpAffine(image, matrix[:2], (width, height), borderMode=cv2.BORDER_REFLECT)
        )
    return clip


def still_with_noise(image: np.ndarray, frames: int = FRAMES, sigma: float = 4.0) -> list:
    """The same frame ``frames`` times with fresh Gaussian sensor noise (seeded)."""
    rng = np.random.default_rng(0)
    noisy = [image.astype(np.float32) + rng.normal(0, sigma, image.shape) for _ in range(frames)]
    return [np.clip(frame, 0, 255).astype(np.uint8) for frame in noisy]


def run_showcase(out: Path, console: Console, predictor: Predictor | None = None) -> dict:
    """Landmarks on the portrait and on two clips; writes images, videos, JSON to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    predictor = predictor or Predictor()
    if predictor.terms:
        console.print(f"[dim]{predictor.terms}[/]", highlight=False)
    path = sample_portrait()
    photo = read_image(path)
    faces = predictor.predict(photo)
    cv2.imwrite(
        str(out / "photo_landmarks.jpg"), cv2.cvtColor(draw_faces(photo, faces), cv2.COLOR_RGB2BGR)
    )
    height, width = photo.shape[:2]
    write_json(
        out / "photo_predictions.json",
        [ImageRecord(path.stem, str(path), (width, height), faces)],
        {"scheme": predictor.scheme.name, "detector": predictor.detector.name},
    )
    console.print(f"photo: {len(faces)} face(s) found in {path.name}", highlight=False)

    moving = list(predictor.track_frames(camera_motion(photo), smooth=True))
    with VideoWriter(out / "clip_landmarks.mp4", FPS) as writer:
        for result, rgb in moving:
            writer.write(draw_faces(rgb, result.faces))
    still = [result for result, _ in predictor.track_frames(still_with_noise(photo), smooth=True)]
    summary = {
        "photo": str(path),
        "faces_in_photo": len(faces),
        "clip_frames": len(moving),
        "clip_frames_with_a_face": sum(bool(result.faces) for result, _ in moving),
        "clip_track_ids": sorted({f.track_id for r, _ in moving for f in r.faces}),
        "jitter_still_face_raw": jitter(still, raw=True, normalize=True),
        "jitter_still_face_smoothed": jitter(still, normalize=True),
    }
    (out / "showcase.json").write_text(json.dumps(summary, indent=2))
    console.print(
        f"clip: a face in {summary['clip_frames_with_a_face']} of {len(moving)} frames, track "
        f"ids {summary['clip_track_ids']}; still-face jitter "
        f"{100 * summary['jitter_still_face_raw']:.3f}% of the face size per frame raw, "
        f"{100 * summary['jitter_still_face_smoothed']:.3f}% smoothed; written to {out}/",
        highlight=False,
    )
    return summary
