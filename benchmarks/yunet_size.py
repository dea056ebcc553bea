"""How large a copy of the image the ``yunet`` detector should look at: detection rate and time.

``SlimeFaceDetector`` downscales every image so that its longer side is at most ``long_side``
pixels before running libfacedetection's YuNet. This measures, on a seeded sample of the 300-W
TRAINING faces of ../shared/data/300w (the validation hold-out, 10% of HELEN trainset with seed
0, is left out), for each ``long_side``:

- the detection rate: a face counts when a detection's box overlaps its landmark box with
  IoU >= 0.3 (as the calibration fit matches faces);
- the detection time per image, downscaling included (best of the rounds).

A size ``A+B`` is the detector's retry: ``A`` px, then ``B`` px when nothing was found (the
default, 320+640).

The faces of ../shared/data/300w are crops of about 2.2x the landmark box (~450 px), so the face
fills half the picture. Photos usually show faces smaller than that, so each face is also
measured as it would look in larger photos: ``photo 3x`` puts the crop in the middle of a
canvas three times its size (the face is about 1/7 of the longer side, a 1350 px picture),
``photo 5x`` five times (1/11, 2250 px; the surroundings are the crop's border pixels
replicated, so no false edge is added). Each scene is also run under the robustness suite's
``occlusion-large`` perturbation, where a detector's margins show.

    .venv/bin/python benchmarks/yunet_size.py [--faces 300] [--sizes 240,320,320+640,480,640]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from heatmark.data.readers.auto import load_dataset
from heatmark.data.split import holdout_split
from heatmark.predict.calibration import MIN_IOU, iou
from heatmark.predict.detectors import SlimeFaceDetector
from heatmark.robustness.perturbations import perturb

SCENES = {"crop": 1, "photo 3x": 3, "photo 5x": 5}


def in_photo(rgb: np.ndarray, box: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """``rgb`` centred in a canvas ``factor`` times its size (border replicated), and ``box``
    moved with it."""
    if factor == 1:
        return rgb, box
    height, width = rgb.shape[:2]
    top, left = (factor - 1) * height // 2, (factor - 1) * width // 2
    bottom, right = factor * height - height - top, factor * width - width - left
    canvas = cv2.copyMakeBorder(rgb, top, bottom, left, right, cv2.BORDER_REPLICATE)
    return canvas, box + np.array([left, top, left, top], dtype=np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/300w"))
    parser.add_argument("--faces", type=int, default=300, help="training faces (seeded sample)")
    parser.add_argument("--sizes", default="240,320,320+640,480,640")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds (best kept)")
    args = parser.parse_args()
    sizes = args.sizes.split(",")
    train, _ = holdout_split(load_dataset(args.data), 0.1, seed=0, subset="helen/trainset")
    order = np.random.default_rng(0).permutation(len(train))[: args.faces]
    faces = [train[i] for i in sorted(order.tolist())]
    detectors = {}
    for size in sizes:
        first, _, retry = size.partition("+")
        detectors[size] = SlimeFaceDetector(
            int(first), retry_long_side=int(retry) if retry else None
        )
    print(f"{len(faces)} of {len(train)} training faces (seed 0); IoU >= {MIN_IOU}\n")
    print("| scene | image px (median) | perturbation | " + " | ".join(sizes) + " |")
    print("|---|---|---|" + "---|" * len(sizes))
    for perturbation in ("clean", "occlusion-large"):
        images = []
        for face in faces:
            image = face.load_image()
            if perturbation != "clean":
                key = face.image_path.stem if face.image_path else "face"
                image = perturb(perturbation, image, face.points, face.scheme, key).image
            images.append((image, face.landmark_box()))
        for scene, factor in SCENES.items():
            shown = [in_photo(image, box, factor) for image, box in images]
            cells = []
            for detector in detectors.values():
                best, found = float("inf"), 0
                for _ in range(args.rounds):
                    found, started = 0, time.perf_counter()
                    for image, box in shown:
                        boxes = detector.detect(image)
                        if len(boxes) and iou(boxes[:, :4], box).max() >= MIN_IOU:
                            found += 1
                    best = min(best, time.perf_counter() - started)
                ms = 1000 * best / len(shown)
                cells.append(f"{100 * found / len(shown):.1f}% / {ms:.1f} ms")
            side = int(np.median([max(image.shape[:2]) for image, _ in shown]))
            print(f"| {scene} | {side} | {perturbation} | " + " | ".join(cells) + " |", flush=True)
    print("\n(cells: faces found / detection ms per image, downscaling included)")


if __name__ == "__main__":
    main()
