"""What box calibration and refinement buy: NME with detector boxes on the validation hold-out.

The shipped model was trained on crops from the tight landmark box. A detector's box has
another scale and offset: this measures, on the 87 validation faces of ../shared/data/300w
(seed 0, 10% of HELEN trainset; never trained or calibrated on), the NME with

- the ground-truth landmark box (the usual GT-box protocol, for reference);
- the raw detector box (no calibration, no refinement);
- the calibrated detector box;
- the calibrated box refined once / twice from the predicted points (``refine``);

for the detectors ``yunet`` (the default), ``hog`` and ``haar``.

A face counts as detected when a predicted face's point box overlaps its ground-truth point box
with IoU >= 0.3 (``heatmark.evaluate.detections``); NME is over detected faces, FR@0.1 counts
a missed face as a failure.

``--protocol NAME`` runs the same on the hold-out perturbed by a robustness protocol (e.g.
``occlusion-large``: the suite's own images, so a detector's misses there are visible).

    .venv/bin/python benchmarks/detector_boxes.py [--data ../shared/data/300w] [--protocol P]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import heatmark
from heatmark.data.readers.auto import load_dataset
from heatmark.data.sample import read_image
from heatmark.data.split import holdout_split
from heatmark.evaluate.detections import MIN_IOU, box_iou
from heatmark.predict.calibration import IDENTITY


def score(samples, faces_per_image) -> tuple[float, float, float]:
    """(detection rate, NME over detected, FR@0.1 with misses as failures)."""
    errors = []
    for sample, faces in zip(samples, faces_per_image, strict=True):
        truth = sample.landmark_box()
        overlaps = [box_iou(truth, face.point_box())[0, 0] for face in faces]
        if not overlaps or max(overlaps) < MIN_IOU:
            errors.append(np.inf)
            continue
        best = faces[int(np.argmax(overlaps))]
        inter_ocular = np.linalg.norm(sample.points[36] - sample.points[45])
        errors.append(np.linalg.norm(best.points - sample.points, axis=1).mean() / inter_ocular)
    errors = np.array(errors)
    found = np.isfinite(errors)
    return float(found.mean()), float(errors[found].mean()), float(np.mean(errors > 0.1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/300w"))
    parser.add_argument("--protocol", default="clean", help="a robustness protocol's images")
    args = parser.parse_args()
    _, val = holdout_split(load_dataset(args.data), 0.1, seed=0, subset="helen/trainset")
    images = [read_image(s.image_path) for s in val]
    if args.protocol != "clean":
        from heatmark.data.readers.predictions import prediction_keys
        from heatmark.robustness.perturbations import perturb

        keys = prediction_keys(val, args.data)
        images = [
            perturb(args.protocol, image, s.points, s.scheme, key).image
            for image, s, key in zip(images, val, keys, strict=True)
        ]
        print(f"protocol {args.protocol} (the robustness suite's images)")
    print(f"{len(val)} held-out faces; shipped model, GET_BC decoding, onnxruntime\n")
    print("| boxes | detected | NME (detected) | FR@0.1 (misses fail) | ms / image |")
    print("|---|---|---|---|---|")
    gt = heatmark.Predictor(detector="none", refine=0)
    started = time.perf_counter()
    faces = gt.predict_batch(images, boxes=[s.landmark_box()[None] for s in val])
    ms = 1000 * (time.perf_counter() - started) / len(val)
    rate, nme, fr = score(val, faces)
    print(f"| ground-truth landmark box | {rate:.1%} | {nme:.2%} | {fr:.2%} | {ms:.1f} |")
    for detector in ("yunet", "hog", "haar"):
        base = heatmark.Predictor(detector=detector)
        detections = [base.detector.detect(image) for image in images]
        for name, calibration, refine in (
            ("raw", IDENTITY, 0),
            ("calibrated", None, 0),
            ("calibrated + refine 1", None, 1),
            ("calibrated + refine 2", None, 2),
        ):
            predictor = heatmark.Predictor(
                detector=detector, calibration=calibration, refine=refine
            )
            started = time.perf_counter()
            faces = predictor.predict_batch(images, boxes=[d[:, :4] for d in detections])
            ms = 1000 * (time.perf_counter() - started) / len(val)
            rate, nme, fr = score(val, faces)
            print(f"| {detector} {name} | {rate:.1%} | {nme:.2%} | {fr:.2%} | {ms:.1f} |")


if __name__ == "__main__":
    main()
