"""Box calibration: from a face detector's box to the landmark box the models were trained on.

Models are trained on crops around the tight box of the landmarks (enlarged 1.25x, square on the
longer side). A detector's box has its own size and position relative to the face (dlib's HOG box
sits lower and is smaller than the 68-point box, OpenCV's Haar box is larger), so the crop made
from a raw detector box differs from the training crops. A ``BoxCalibration`` maps a detector
box to an estimate of the tight landmark box, with four numbers relative to the box's width ``w``
and height ``h`` (centre ``cx, cy``)::

    centre' = (cx + offset_x * w, cy + offset_y * h)
    size'   = (scale_x * w, scale_y * h)

``fit_calibration`` fits them on annotated faces; ``calibrations.json`` (shipped with the
package, written by ``python -m heatmark.predict.calibration``) holds the fitted ones of the
built-in detectors (yunet, hog, haar) for the 300-W 68-point landmark box, fitted with
``python -m heatmark.predict.calibration --data ../shared/data/300w --out
src/heatmark/predict/calibrations.json --limit 800 [--detector yunet]``. Identity for "none"
and "boxes:FILE" (the given box is taken as the face's landmark box).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from heatmark.data.sample import Sample
from heatmark.errors import DataError, HeatmarkError
from heatmark.predict.detectors import FaceDetector, as_detector, make_detector, run_detector

DEFAULT_SCHEME = "300w-68"
MIN_IOU = 0.3  # a detection matches a face when its IoU with the landmark box reaches this
IDENTITY_DETECTORS = ("none", "boxes")  # their boxes are taken as landmark boxes as they are
CALIBRATION_FILE = "calibrations.json"
PARAMETERS = ("scale_x", "scale_y", "offset_x", "offset_y")


@dataclass(frozen=True)
class BoxCalibration:
    """Detector box -> tight landmark box (formula in the module docstring)."""

    scale_x: float = 1.0
    scale_y: float = 1.0
    offset_x: float = 0.0
    offset_y: float = 0.0

    def apply(self, boxes: np.ndarray) -> np.ndarray:
        """(N, 4) estimated landmark boxes of (N, 4) or (N, 5) detector boxes (a score column is
        dropped); a single box (4,) or (5,) gives (1, 4)."""
        array = np.asarray(boxes, dtype=np.float64)
        if array.ndim == 1:
            array = array[None]
        if array.ndim != 2 or array.shape[1] not in (4, 5):
            raise HeatmarkError(f"expected (N, 4) or (N, 5) boxes, got shape {array.shape}")
        x0, y0, x1, y1 = array[:, :4].T
        width, height = x1 - x0, y1 - y0
        cx = (x0 + x1) / 2 + self.offset_x * width
        cy = (y0 + y1) / 2 + self.offset_y * height
        half_w, half_h = self.scale_x * width / 2, self.scale_y * height / 2
        return np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)

    def invert(self, boxes: np.ndarray) -> np.ndarray:
        """(N, 4) detector boxes whose ``apply`` gives the (N, 4) or (4,) landmark ``boxes``:
        the box a detector would have drawn around a face with that landmark box."""
        array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        x0, y0, x1, y1 = array.T
        width, height = (x1 - x0) / self.scale_x, (y1 - y0) / self.scale_y
        cx = (x0 + x1) / 2 - self.offset_x * width
        cy = (y0 + y1) / 2 - self.offset_y * height
        return np.stack([cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2], axis=1)

    def to_dict(self) -> dict[str, float]:
        return {name: float(value) for name, value in asdict(self).items()}


IDENTITY = BoxCalibration()  # the box is the landmark box already


@dataclass(frozen=True)
class FitReport:
    """How a detector does on annotated faces, and what calibration changes.

    Attributes:
        detector: the detector's name.
        faces: faces looked at.
        matched: faces with a detection of IoU >= ``min_iou`` with their landmark box.
        empty: faces whose image gave no detection at all (the rest of the misses had
            detections elsewhere or of another size).
        mean_iou_raw / mean_iou_calibrated: mean IoU with the landmark boxes of the matched
            detections, raw and after calibration (NaN when nothing matched).
    """

    detector: str
    faces: int
    matched: int
    empty: int
    mean_iou_raw: float
    mean_iou_calibrated: float
    min_iou: float = MIN_IOU

    @property
    def missed(self) -> int:
        return self.faces - self.matched

    @property
    def detection_rate(self) -> float:
        return self.matched / self.faces if self.faces else 0.0

    def to_dict(self) -> dict[str, float | int | str]:
        return {**asdict(self), "detection_rate": self.detection_rate}


@dataclass
class Matches:
    """Per matched face: the detector box and the landmark box, (M, 4) each."""

    detector: str
    detector_boxes: np.ndarray
    landmark_boxes: np.ndarray
    faces: int
    empty: int
    min_iou: float


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes ``a`` (N, 4) and ``b`` (M, 4): (N, M).

    Boxes are continuous ``(x0, y0, x1, y1)`` extents (width ``x1 - x0``), as for landmark boxes.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    left = np.maximum(a[:, None, 0], b[None, :, 0])
    top = np.maximum(a[:, None, 1], b[None, :, 1])
    right = np.minimum(a[:, None, 2], b[None, :, 2])
    bottom = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def match_detections(
    detector: FaceDetector | Callable[[np.ndarray], object],
    samples: Sequence[Sample],
    min_iou: float = MIN_IOU,
    progress: Callable[[int, int], None] | None = None,
) -> Matches:
    """Run ``detector`` on each face's image and keep, per face, the detection with the best IoU
    with its landmark box if that IoU reaches ``min_iou`` (else the face is a miss)."""
    detector = as_detector(detector)
    found, targets, empty = [], [], 0
    for index, sample in enumerate(samples):
        boxes = run_detector(detector, sample.load_image(), sample.image_path)
        target = sample.landmark_box()
        if len(boxes) == 0:
            empty += 1
        else:
            overlaps = iou(boxes[:, :4], target)[:, 0]
            best = int(np.argmax(overlaps))
            if overlaps[best] >= min_iou:
                found.append(boxes[best, :4])
                targets.append(target)
        if progress is not None:
            progress(index + 1, len(samples))
    return Matches(
        detector=getattr(detector, "name", "detector"),
        detector_boxes=np.asarray(found, dtype=np.float64).reshape(-1, 4),
        landmark_boxes=np.asarray(targets, dtype=np.float64).reshape(-1, 4),
        faces=len(samples),
        empty=empty,
        min_iou=min_iou,
    )


def fit_boxes(detector_boxes: np.ndarray, landmark_boxes: np.ndarray) -> BoxCalibration:
    """The calibration mapping ``detector_boxes`` (M, 4) onto ``landmark_boxes`` (M, 4).

    Each parameter is the median of its per-face value (width and height ratios, centre offsets
    relative to the detector box's size): robust to the few wrong matches (a neighbour's face, a
    box of half the face), exact when every face has the same relation. Degenerate detector boxes
    (zero width or height) are ignored. ``HeatmarkError`` when no face is left.
    """
    found = np.asarray(detector_boxes, dtype=np.float64).reshape(-1, 4)
    target = np.asarray(landmark_boxes, dtype=np.float64).reshape(-1, 4)
    width, height = found[:, 2] - found[:, 0], found[:, 3] - found[:, 1]
    keep = (width > 0) & (height > 0)
    if not keep.any():
        raise HeatmarkError("cannot fit a box calibration: no face was matched by the detector")
    found, target, width, height = found[keep], target[keep], width[keep], height[keep]
    centre = (found[:, :2] + found[:, 2:]) / 2
    target_centre = (target[:, :2] + target[:, 2:]) / 2
    return BoxCalibration(
        scale_x=float(np.median((target[:, 2] - target[:, 0]) / width)),
        scale_y=float(np.median((target[:, 3] - target[:, 1]) / height)),
        offset_x=float(np.median((target_centre[:, 0] - centre[:, 0]) / width)),
        offset_y=float(np.median((target_centre[:, 1] - centre[:, 1]) / height)),
    )


def report(matches: Matches, calibration: BoxCalibration) -> FitReport:
    """Detection rate and mean IoU, raw vs calibrated, of matched detections."""
    if len(matches.detector_boxes):
        raw = np.diag(iou(matches.detector_boxes, matches.landmark_boxes))
        calibrated = np.diag(iou(calibration.apply(matches.detector_boxes), matches.landmark_boxes))
        mean_raw, mean_calibrated = float(raw.mean()), float(calibrated.mean())
    else:
        mean_raw = mean_calibrated = float("nan")
    return FitReport(
        detector=matches.detector,
        faces=matches.faces,
        matched=len(matches.detector_boxes),
        empty=matches.empty,
        mean_iou_raw=mean_raw,
        mean_iou_calibrated=mean_calibrated,
        min_iou=matches.min_iou,
    )


def fit_calibration(
    detector: FaceDetector | Callable[[np.ndarray], object],
    samples: Sequence[Sample],
    min_iou: float = MIN_IOU,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[BoxCalibration, FitReport]:
    """Fit ``detector``'s calibration on annotated ``samples`` (``fit_boxes`` on the faces
    ``match_detections`` matched) and report it on the same faces."""
    matches = match_detections(detector, samples, min_iou, progress)
    calibration = fit_boxes(matches.detector_boxes, matches.landmark_boxes)
    return calibration, report(matches, calibration)


def evaluate_calibration(
    detector: FaceDetector | Callable[[np.ndarray], object],
    samples: Sequence[Sample],
    calibration: BoxCalibration,
    min_iou: float = MIN_IOU,
    progress: Callable[[int, int], None] | None = None,
) -> FitReport:
    """Report a fitted ``calibration`` on other faces (e.g. the validation hold-out)."""
    return report(match_detections(detector, samples, min_iou, progress), calibration)


def shipped_calibrations_path() -> Path:
    """The ``calibrations.json`` shipped inside the package."""
    return Path(__file__).with_name(CALIBRATION_FILE)


def load_calibrations(
    path: Path | str | None = None, scheme: str = DEFAULT_SCHEME
) -> dict[str, BoxCalibration]:
    """Detector name -> calibration for the landmark box of ``scheme``, from ``path`` (default:
    the shipped file). ``DataError`` naming the file when it is missing or malformed."""
    file = Path(path) if path is not None else shipped_calibrations_path()
    data = _read_calibration_file(file)
    if data is None:
        raise DataError(file, "calibration file not found")
    entries = data.get("schemes", {}).get(scheme)
    if entries is None:
        known = sorted(data.get("schemes", {}))
        raise DataError(file, f"no calibrations for the {scheme} landmark box (has: {known})")
    calibrations = {}
    for name, entry in entries.items():
        try:
            values = {key: float(entry[key]) for key in PARAMETERS}
        except (KeyError, TypeError, ValueError):
            raise DataError(
                file, f"{scheme}/{name}: expected numbers {', '.join(PARAMETERS)}"
            ) from None
        calibrations[name] = BoxCalibration(**values)
    return calibrations


def calibration_for(
    detector_name: str,
    scheme: str = DEFAULT_SCHEME,
    calibrations: dict[str, BoxCalibration] | None = None,
    strict: bool = False,
) -> BoxCalibration:
    """The calibration of a detector by name: identity for "none" and "boxes", the shipped (or
    given) fitted one for "yunet", "hog" and "haar". A detector without one ("yunet-onnx", a
    plug-in) gets the identity, or with ``strict`` a ``HeatmarkError`` saying how to fit one."""
    if detector_name in IDENTITY_DETECTORS:
        return IDENTITY
    known = load_calibrations(scheme=scheme) if calibrations is None else calibrations
    if detector_name in known:
        return known[detector_name]
    if not strict:
        return IDENTITY
    raise HeatmarkError(
        f"no box calibration for detector {detector_name!r} and the {scheme} landmark box "
        f"(calibrated: {sorted(known)}); fit one with: python -m heatmark.predict.calibration "
        "--data ANNOTATED_FACES --out calibrations.json --detector SPEC"
    )


def _read_calibration_file(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DataError(path, f"invalid json: {error.msg}", error.lineno) from None
    if not isinstance(data, dict) or not isinstance(data.get("schemes", {}), dict):
        raise DataError(path, 'expected {"schemes": {scheme: {detector: {...}}}}')
    return data


def _options(detector: object) -> dict[str, float | int]:
    """The tunable settings of a built-in detector, recorded with its calibration."""
    names = ("upsample", "threshold", "scale_factor", "min_neighbors", "min_size", "long_side")
    names += ("retry_long_side",)
    return {name: getattr(detector, name) for name in names if hasattr(detector, name)}


def _format_report(label: str, fitted: FitReport) -> str:
    return (
        f"  {label:<5} faces {fitted.faces:5d}  detected {fitted.matched:5d} "
        f"({100 * fitted.detection_rate:5.1f}%, {fitted.empty} with no detection)  "
        f"mean IoU raw {fitted.mean_iou_raw:.3f} -> calibrated {fitted.mean_iou_calibrated:.3f}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Fit the built-in detectors' calibrations on the training part of a 300-W tree."""
    from heatmark.data.readers.auto import load_dataset
    from heatmark.data.split import holdout_split

    parser = argparse.ArgumentParser(
        prog="python -m heatmark.predict.calibration",
        description="Fit face detector box calibrations on annotated faces. The validation "
        "hold-out (same split as training) is never fitted on, only reported.",
    )
    parser.add_argument("--data", type=Path, required=True, help="annotated faces (300-W tree)")
    parser.add_argument("--out", type=Path, required=True, help="calibrations .json to write")
    parser.add_argument(
        "--detector",
        action="append",
        help="detector spec (repeatable; default: yunet, hog and haar)",
    )
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-subset", default="helen/trainset")
    parser.add_argument(
        "--limit", type=int, default=None, help="fit on a seeded subset of this many train faces"
    )
    parser.add_argument("--min-iou", type=float, default=MIN_IOU)
    args = parser.parse_args(argv)
    try:
        samples = load_dataset(args.data)
        schemes = {sample.scheme.name for sample in samples}
        if len(schemes) != 1:
            raise HeatmarkError(f"{args.data}: faces of several landmark schemes: {schemes}")
        scheme = schemes.pop()
        train, val = holdout_split(samples, args.val_fraction, args.seed, args.val_subset or None)
        available = len(train)
        if args.limit is not None and args.limit < len(train):
            chosen = np.random.default_rng(args.seed).permutation(len(train))[: args.limit]
            train = [train[i] for i in sorted(chosen.tolist())]
        data = _read_calibration_file(args.out) or {}
        data["format"] = 1
        data["convention"] = (
            "detector box (x0, y0, x1, y1) -> tight landmark box: centre + offset * (w, h), "
            "size * (scale_x, scale_y); 0-based pixel centres"
        )
        entries = data.setdefault("schemes", {}).setdefault(scheme, {})
        print(f"{args.data}: {len(train)} train faces (fitted), {len(val)} val faces (reported)")
        for spec in args.detector or ["yunet", "hog", "haar"]:
            detector = make_detector(spec)
            calibration, fitted = fit_calibration(detector, train, args.min_iou)
            held = evaluate_calibration(detector, val, calibration, args.min_iou)
            print(f"{detector.name} ({spec}): {calibration}")
            print(_format_report("train", fitted))
            print(_format_report("val", held))
            entries[detector.name] = {
                **calibration.to_dict(),
                "spec": spec,
                "options": _options(detector),
                "fitted_on": f"{args.data.name}: {len(train)} of {available} train faces; the "
                f"val hold-out ({len(val)} faces: {args.val_fraction} of {args.val_subset}, "
                f"seed {args.seed}) is only reported",
                "train": fitted.to_dict(),
                "val": held.to_dict(),
            }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    except HeatmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
