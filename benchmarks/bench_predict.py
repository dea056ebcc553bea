"""Inference speed of the shipped model on CPU: the landmark stage per face and the whole
pipeline per image, against dlib's 68-point shape predictor in the same run.

1. Network + decode on prepared 128 px crops (16 real faces from ../shared/data/300w/afw,
   cropped from their calibrated HOG boxes): torch eager, torch BN-folded + channels_last
   (``heatmark.models.accelerate``) and onnxruntime (the shipped model exported to a temporary
   ``.onnx`` with the decoder in the graph). Per-face latency at batch 1 (ms/face) and
   throughput at batch 16 (faces/s), on 1 and 2 threads (``torch.set_num_threads``,
   onnxruntime intra-op threads).
2. The whole landmark stage, ``Predictor.landmarks`` (crop + network + decode + map back), with
   ``refine`` 0 (the default) and 1 (one re-crop from the predicted points, two passes), batch 1
   and 16, 1 and 2 threads. The NME column (inter-ocular, outer eye corners) checks that every
   variant did the real work.
3. The whole pipeline on one 640 x 480 JPEG with one face (matplotlib's ``grace_hopper.jpg``
   resized to 640 wide and cropped around the face), images/s on 2 cores: heatmark's default
   ``Predictor()`` (YuNet detector, onnxruntime, refine 0) and other heatmark settings, against
   dlib's own pipeline (decode + HOG with upsample 1, dlib's default, + its 68-point shape
   predictor) and dlib's fastest (HOG upsample 0), each stage also timed alone.
4. Detection rates on the validation hold-out of ../shared/data/300w (87 faces, never trained
   or calibrated on): ``yunet`` against ``hog`` (upsample 1 and 0) under the robustness suite's
   clean, occlusion-medium, occlusion-large, blur-random-large and lowlight-large images, as the
   suite's ``--box detector`` protocol counts them.

5. Video (2 cores): ``Predictor.track_frames`` on 640 px frames of a synthetic camera move over
   the portrait (``heatmark.predict.showcase.camera_motion``), re-detecting every 10 frames,
   frames/s for the default and the fast model; their jitter on the still, noisy clip (the
   demo's figure: mean frame-to-frame motion in % of the face size, raw and smoothed); and
   how far the fast model's points lie from the default's on the moving clip (% of the
   inter-ocular distance: the clip has no ground truth).

The shipped ``fast`` model (issue 21) runs in sections 2 and 3 beside the default one, and
its goals are checked at the end: its landmark stage at batch 1 on 1 thread no slower
than dlib's per face, at batch 16 at least dlib's faces/s, and its video pipeline at 100
frames/s or more.

Baseline: dlib's ``shape_predictor`` with ``shape_predictor_68_face_landmarks.dat`` from the
``face-recognition-models`` package (the optional ``baselines`` extra), given the same faces'
HOG boxes (the boxes it was trained on); dlib runs one thread and has no batching, so its
batch-16 figure is its per-face figure. The package's ``__init__`` needs ``pkg_resources``
(setuptools), so the model file is located through the import system without importing it.
Without the package the tables use torch eager (same threads) as the baseline and say so.
Ratios are times divided by the baseline's time: below 1 is faster than the baseline.

Threads: the script sets ``OMP_WAIT_POLICY=PASSIVE`` unless the variable is already set (kind
to a shared machine: torch's OpenMP workers sleep between parallel regions instead of spinning).
On a small VM waking them costs a lot per operator, so torch on 2 threads can be slower than on
1; run with ``OMP_WAIT_POLICY=ACTIVE`` (on an otherwise idle machine) to see torch with spinning
workers, as onnxruntime's intra-op threads spin by default.

Variants are timed in interleaved rounds and each keeps its best round, so load from other
processes hurts them alike: the ratios are measured in the same run. Goals checked at the end:
the landmark stage within 3x of dlib's per-face time; the whole default pipeline at least 4x
dlib's default pipeline and 1.5x dlib's fastest.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_predict.py [--quick]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import importlib.metadata
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from heatmark.baselines import dlib_model_path
from heatmark.data.geometry import box_crop_matrix, warp_image
from heatmark.data.readers.pts import read_pts
from heatmark.data.sample import read_image
from heatmark.export import OnnxLandmarkModel, export_onnx
from heatmark.models import accelerate
from heatmark.models.landmark_model import LandmarkModel
from heatmark.models.shipped import load_shipped_model, shipped_model, shipped_names
from heatmark.predict.calibration import MIN_IOU, calibration_for, iou
from heatmark.predict.detectors import HogDetector
from heatmark.predict.predictor import Predictor, load_rgb
from heatmark.predict.tracking import jitter

DEFAULT_FACES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "300w" / "afw"
NUM_FACES = 16
BATCH = 16
THREADS = (1, 2)
LANDMARK_GOAL = 3.0  # landmark stage per face: at most this many times dlib's time
FAST_GOAL = 1.0  # the fast model's landmark stage (batch 1, 1 thread): at most dlib's time
VIDEO_GOAL = 100.0  # frames/s of the fast model's video pipeline on 2 cores
VIDEO_FRAMES = 96
DLIB_DEFAULT_GOAL = 4.0  # whole pipeline: heatmark default at least 4x dlib's default pipeline
DLIB_FASTEST_GOAL = 1.5  # ... and 1.5x dlib's fastest (HOG upsample 0)
FAST = "fast model (onnxruntime)"
DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "300w"
LEFT_EYE, RIGHT_EYE = 36, 45  # outer eye corners of the 68-point scheme (0-based)


# ---------------------------------------------------------------- timing and tables


def best_times(variants: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Best seconds per call of each closure over ``rounds`` interleaved rounds (after one
    warm-up call each)."""
    for function in variants.values():
        function()
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(rounds):
        for name, function in variants.items():
            start = time.perf_counter()
            function()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def markdown(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def ratio(value: float, baseline: float | None) -> str:
    return "-" if baseline is None else f"{value / baseline:.2f}x"


# ---------------------------------------------------------------- dlib baseline


class DlibLandmarks:
    """dlib's 68-point shape predictor: (image, detector box) -> (68, 2) points."""

    def __init__(self, path: Path) -> None:
        import dlib

        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(path))

    def rectangle(self, box: np.ndarray) -> object:
        left, top, right, bottom = (round(float(v)) for v in box[:4])
        return self._dlib.rectangle(left, top, right, bottom)

    def __call__(self, rgb: np.ndarray, rectangle: object) -> np.ndarray:
        shape = self._predictor(rgb, rectangle)
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


# ---------------------------------------------------------------- data


@dataclass
class Faces:
    """Real faces with their HOG boxes: dlib's input (``detector_boxes``) and heatmark's
    (``boxes``, calibrated to the landmark box), the crops of ``boxes`` and the truth."""

    images: list[np.ndarray]
    detector_boxes: np.ndarray
    boxes: np.ndarray
    truth: np.ndarray
    crops: np.ndarray


def load_faces(folder: Path, count: int, model: LandmarkModel) -> Faces:
    """The first ``count`` annotated faces of ``folder`` (``.jpg`` + 68-point ``.pts``) that
    dlib's HOG detector (upsample 1) finds."""
    hog = HogDetector(upsample=1)
    calibration = calibration_for(hog.name)
    d = model.description
    images, found, truth = [], [], []
    for pts in sorted(folder.glob("*.pts")):
        image_path = pts.with_suffix(".jpg")
        if not image_path.is_file():
            continue
        points = read_pts(pts, 68)
        rgb = read_image(image_path)
        boxes = hog.detect(rgb)
        if not len(boxes):
            continue
        target = np.concatenate([points.min(axis=0), points.max(axis=0)])
        overlaps = iou(boxes[:, :4], target)[:, 0]
        best = int(np.argmax(overlaps))
        if overlaps[best] < MIN_IOU:
            continue
        images.append(rgb)
        found.append(boxes[best, :4])
        truth.append(points)
        if len(images) == count:
            break
    if len(images) < count:
        raise SystemExit(f"{folder}: only {len(images)} faces found by HOG, {count} needed")
    detector_boxes = np.array(found)
    boxes = calibration.apply(detector_boxes)
    crops = np.stack(
        [
            warp_image(rgb, box_crop_matrix(box, d.input_size, d.enlarge), d.input_size)
            .transpose(2, 0, 1)
            .copy()
            for rgb, box in zip(images, boxes, strict=True)
        ]
    )
    return Faces(images, detector_boxes, boxes, np.array(truth), crops)


def pipeline_image() -> bytes:
    """A 640 x 480 JPEG with one face: matplotlib's Grace Hopper resized to 640 wide and cropped
    to 480 rows around the face."""
    import matplotlib.cbook

    bgr = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    height = round(bgr.shape[0] * 640 / bgr.shape[1])
    bgr = cv2.resize(bgr, (640, height), interpolation=cv2.INTER_AREA)
    boxes = HogDetector(upsample=0).detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    centre = int((boxes[0, 1] + boxes[0, 3]) / 2) if len(boxes) else height // 2
    top = min(max(0, centre - 240), max(0, height - 480))
    ok, encoded = cv2.imencode(".jpg", bgr[top : top + 480], [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return encoded.tobytes()


def nme(points: np.ndarray, truth: np.ndarray) -> float:
    """Mean inter-ocular NME in percent of (N, 68, 2) points."""
    iod = np.linalg.norm(truth[:, LEFT_EYE] - truth[:, RIGHT_EYE], axis=-1)
    return float((np.linalg.norm(points - truth, axis=-1).mean(axis=1) / iod).mean() * 100)


# ---------------------------------------------------------------- 1. network + decode


def bench_network(
    model: LandmarkModel,
    fused: LandmarkModel,
    onnx_path: Path,
    faces: Faces,
    dlib: DlibLandmarks | None,
    rounds: int,
) -> tuple[dict, float | None]:
    """Seconds per face, {(variant, threads, batch): s}, and dlib's seconds per face."""
    crops = faces.crops
    singles = [crops[i : i + 1] for i in range(len(crops))]
    results: dict[tuple[str, int, int], float] = {}
    dlib_best: float | None = None
    reference = model(torch.from_numpy(crops))[0].numpy()
    for threads in THREADS:
        torch.set_num_threads(threads)
        runner = OnnxLandmarkModel(onnx_path, threads=threads)
        gap = max(
            float(np.abs(fused(torch.from_numpy(crops))[0].numpy() - reference).max()),
            float(np.abs(runner.points(crops)[0] - reference).max()),
        )

        def eager(c: np.ndarray) -> object:
            return model(torch.from_numpy(c))[0].numpy()

        def folded(c: np.ndarray) -> object:
            tensor = torch.from_numpy(c).contiguous(memory_format=torch.channels_last)
            return fused(tensor)[0].numpy()

        def ort(c: np.ndarray, r: OnnxLandmarkModel = runner) -> object:
            return r.points(c)[0]

        runs = {"torch eager": eager, "torch BN-folded + channels_last": folded, "onnxruntime": ort}
        variants: dict[str, Callable[[], object]] = {}
        for name, run in runs.items():
            variants[f"{name}|1"] = lambda run=run: [run(c) for c in singles]
            variants[f"{name}|{BATCH}"] = lambda run=run: run(crops)
        if dlib is not None:
            rectangles = [dlib.rectangle(b) for b in faces.detector_boxes]
            pairs = list(zip(faces.images, rectangles, strict=True))
            variants["dlib|1"] = lambda pairs=pairs: [dlib(rgb, r) for rgb, r in pairs]
        times = best_times(variants, rounds)
        for key, seconds in times.items():
            name, batch = key.split("|")
            per_face = seconds / len(crops)
            if name == "dlib":
                dlib_best = per_face if dlib_best is None else min(dlib_best, per_face)
            else:
                results[(name, threads, int(batch))] = per_face
        print(f"  ({threads} thread(s): max point gap to torch eager {gap:.4f} crop px)")
        del runner
    return results, dlib_best


def network_table(results: dict, dlib_time: float | None) -> str:
    rows = []
    names = dict.fromkeys(name for name, _, _ in results)
    for threads in THREADS:
        for name in names:
            single, batched = results[(name, threads, 1)], results[(name, threads, BATCH)]
            base1 = dlib_time or results[("torch eager", threads, 1)]
            base16 = dlib_time or results[("torch eager", threads, BATCH)]
            rows.append(
                [
                    name,
                    str(threads),
                    f"{single * 1e3:.2f}",
                    ratio(single, base1),
                    f"{1 / batched:.0f}",
                    ratio(batched, base16),
                ]
            )
    if dlib_time is not None:
        rows.append(
            ["dlib shape_predictor (baseline)", "1", f"{dlib_time * 1e3:.2f}", "1.00x"]
            + [f"{1 / dlib_time:.0f}", "1.00x"]
        )
    base = "dlib" if dlib_time is not None else "torch eager"
    headers = ["variant", "threads", "batch 1 ms/face", f"time / {base}"]
    headers += [f"batch {BATCH} faces/s", f"time / {base}"]
    return markdown(headers, rows)


# ---------------------------------------------------------------- 2. Predictor.landmarks


def bench_landmarks(
    backends: dict[str, LandmarkModel | Path],
    faces: Faces,
    dlib: DlibLandmarks | None,
    rounds: int,
) -> tuple[dict, float | None, dict[str, float]]:
    """Seconds per face {(variant, threads, refine, batch): s}, dlib's, and NME per variant."""
    images = faces.images
    boxes = [faces.boxes[i : i + 1] for i in range(len(images))]
    results: dict[tuple[str, int, int, int], float] = {}
    errors: dict[str, float] = {}
    dlib_best: float | None = None
    for threads in THREADS:
        predictors = {
            name: Predictor(model, detector="none", batch_size=BATCH, threads=threads)
            for name, model in backends.items()
        }
        torch.set_num_threads(threads)
        variants: dict[str, Callable[[], object]] = {}
        for name, p in predictors.items():
            for refine in (0, 1):

                def single(p: Predictor = p, refine: int = refine) -> object:
                    p.refine = refine
                    return [
                        p.landmarks([rgb], [box]) for rgb, box in zip(images, boxes, strict=True)
                    ]

                def batched(p: Predictor = p, refine: int = refine) -> object:
                    p.refine = refine
                    return p.landmarks(images, boxes)

                variants[f"{name}|{refine}|1"] = single
                variants[f"{name}|{refine}|{BATCH}"] = batched
                if threads == THREADS[0]:
                    p.refine = refine
                    found = p.landmarks(images, boxes)
                    points = np.stack([image_faces[0].points for image_faces in found])
                    errors[f"{name}|{refine}"] = nme(points, faces.truth)
        if dlib is not None:
            rectangles = [dlib.rectangle(b) for b in faces.detector_boxes]
            pairs = list(zip(images, rectangles, strict=True))
            variants["dlib|0|1"] = lambda pairs=pairs: [dlib(rgb, r) for rgb, r in pairs]
            if threads == THREADS[0]:
                errors["dlib|0"] = nme(np.stack([dlib(rgb, r) for rgb, r in pairs]), faces.truth)
        for key, seconds in best_times(variants, rounds).items():
            name, refine, batch = key.split("|")
            per_face = seconds / len(images)
            if name == "dlib":
                dlib_best = per_face if dlib_best is None else min(dlib_best, per_face)
            else:
                results[(name, threads, int(refine), int(batch))] = per_face
    return results, dlib_best, errors


def landmarks_table(results: dict, dlib_time: float | None, errors: dict[str, float]) -> str:
    rows = []
    names = dict.fromkeys(name for name, _, _, _ in results)
    for threads in THREADS:
        for refine in (0, 1):
            for name in names:
                single = results[(name, threads, refine, 1)]
                batched = results[(name, threads, refine, BATCH)]
                base1 = dlib_time or results[("torch eager", threads, refine, 1)]
                base16 = dlib_time or results[("torch eager", threads, refine, BATCH)]
                rows.append(
                    [name, str(threads), str(refine), f"{single * 1e3:.2f}", ratio(single, base1)]
                    + [f"{1 / batched:.0f}", ratio(batched, base16)]
                    + [f"{errors[f'{name}|{refine}']:.2f}"]
                )
    if dlib_time is not None:
        rows.append(
            ["dlib shape_predictor (baseline)", "1", "-", f"{dlib_time * 1e3:.2f}", "1.00x"]
            + [f"{1 / dlib_time:.0f}", "1.00x", f"{errors['dlib|0']:.2f}"]
        )
    base = "dlib" if dlib_time is not None else "torch eager"
    headers = ["variant", "threads", "refine", "batch 1 ms/face", f"time / {base}"]
    headers += [f"batch {BATCH} faces/s", f"time / {base}", "NME %"]
    return markdown(headers, rows)


# ---------------------------------------------------------------- 3. whole pipeline


def bench_pipeline(jpeg: bytes, dlib: DlibLandmarks | None, rounds: int) -> list[dict]:
    """Whole pipeline (decode the JPEG bytes, detect, landmarks) per variant, in interleaved
    rounds: heatmark's default ``Predictor()`` and other heatmark detectors / refine settings,
    and dlib's own pipelines (HOG upsample 1, its default; upsample 0, its fastest) + its
    shape predictor. Each row: seconds per image and the stages timed alone."""
    rgb = load_rgb(jpeg)
    default = Predictor(batch_size=BATCH)
    variants: dict[str, Predictor] = {
        "heatmark default": default,
        **(
            {"heatmark fast": Predictor(model="fast", batch_size=BATCH)}
            if "fast" in shipped_names()
            else {}
        ),
        "heatmark yunet, refine 1": Predictor(batch_size=BATCH, refine=1),
        "heatmark yunet, torch": Predictor(batch_size=BATCH, backend="torch"),
        "heatmark hog:0": Predictor(detector="hog:0", batch_size=BATCH),
        "heatmark hog (upsample 1)": Predictor(detector="hog", batch_size=BATCH),
    }
    totals: dict[str, Callable[[], object]] = {
        name: (lambda p=p: p.predict(jpeg)) for name, p in variants.items()
    }
    stages: dict[str, Callable[[], object]] = {"decode": lambda: load_rgb(jpeg)}
    found: dict[str, int] = {}
    for name, p in variants.items():
        boxes, _ = p.detect(rgb)
        found[name] = len(boxes)
        stages[f"detect|{name}"] = lambda p=p: p.detect(rgb)
        stages[f"landmarks|{name}"] = lambda p=p, b=boxes: p.landmarks([rgb], [b])
    if dlib is not None:
        for name, upsample in (
            ("dlib default (HOG upsample 1)", 1),
            ("dlib fastest (HOG upsample 0)", 0),
        ):
            hog = HogDetector(upsample=upsample)
            raw = hog.detect(rgb)
            found[name] = len(raw)

            def total(hog: HogDetector = hog) -> object:
                image = load_rgb(jpeg)
                return [dlib(image, dlib.rectangle(box)) for box in hog.detect(image)]

            totals[name] = total
            stages[f"detect|{name}"] = lambda hog=hog: hog.detect(rgb)
            stages[f"landmarks|{name}"] = lambda raw=raw: [
                dlib(rgb, dlib.rectangle(box)) for box in raw
            ]
    times = best_times({**totals, **stages}, rounds)
    return [
        {
            "variant": name,
            "faces": found[name],
            "decode": times["decode"],
            "detect": times[f"detect|{name}"],
            "landmark": times[f"landmarks|{name}"],
            "total": times[name],
        }
        for name in totals
    ]


def pipeline_table(rows: list[dict]) -> str:
    by_name = {row["variant"]: row["total"] for row in rows}
    dlib_default = by_name.get("dlib default (HOG upsample 1)")
    dlib_fastest = by_name.get("dlib fastest (HOG upsample 0)")
    table = []
    for row in rows:
        speed = [
            "-" if base is None else f"{base / row['total']:.2f}x"
            for base in (dlib_default, dlib_fastest)
        ]
        table.append(
            [row["variant"], str(row["faces"])]
            + [f"{row[k] * 1e3:.1f}" for k in ("decode", "detect", "landmark", "total")]
            + [f"{1 / row['total']:.1f}", *speed]
        )
    headers = ["pipeline", "faces", "decode ms", "detect ms", "landmarks ms", "total ms"]
    headers += ["images/s", "speed / dlib default", "speed / dlib fastest"]
    return markdown(headers, table)


# ---------------------------------------------------------------- 4. detection rates


DETECTION_PROTOCOLS = (
    "clean",
    "occlusion-medium",
    "occlusion-large",
    "blur-random-large",
    "lowlight-large",
)
DETECTION_DETECTORS = ("yunet", "hog", "hog:0")


def bench_detection(data: Path) -> tuple[dict, int]:
    """Detection rate and ms per image of each detector on the hold-out under each protocol:
    the robustness suite's ``detector`` box protocol (``DetectorBoxes``: calibrated detection
    of IoU >= 0.3 with the face's landmark box), on the suite's perturbed images."""
    from heatmark.data.readers.auto import load_dataset
    from heatmark.data.readers.predictions import prediction_keys
    from heatmark.data.split import holdout_split
    from heatmark.robustness.boxes import DetectorBoxes
    from heatmark.robustness.perturbations import perturb

    _, val = holdout_split(load_dataset(data), 0.1, seed=0, subset="helen/trainset")
    keys = prediction_keys(val, data)
    finders = {spec: DetectorBoxes(spec) for spec in DETECTION_DETECTORS}
    results: dict[tuple[str, str], tuple[float, float]] = {}
    for protocol in DETECTION_PROTOCOLS:
        images = [
            perturb(protocol, s.load_image(), s.points, s.scheme, key).image
            for s, key in zip(val, keys, strict=True)
        ]
        for spec, finder in finders.items():
            started = time.perf_counter()
            found = finder(val, images).found
            seconds = (time.perf_counter() - started) / len(val)
            results[(protocol, spec)] = (float(found.mean()), seconds)
    return results, len(val)


def detection_table(results: dict) -> str:
    rows = []
    for protocol in DETECTION_PROTOCOLS:
        row = [protocol]
        for spec in DETECTION_DETECTORS:
            rate, seconds = results[(protocol, spec)]
            row.append(f"{100 * rate:.1f}% ({seconds * 1e3:.1f} ms)")
        rows.append(row)
    return markdown(["protocol", *DETECTION_DETECTORS], rows)


# ---------------------------------------------------------------- main


def versions(dlib_path: Path | None) -> str:
    import dlib
    import onnxruntime

    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [
        f"python {platform.python_version()}",
        f"torch {torch.__version__}",
        f"onnxruntime {onnxruntime.__version__}",
        f"dlib {dlib.__version__}",
        f"opencv {cv2.__version__}",
        f"numpy {np.__version__}",
    ]
    if dlib_path is not None:
        parts.append(
            f"face-recognition-models {importlib.metadata.version('face-recognition-models')}"
        )
    policy = os.environ.get("OMP_WAIT_POLICY", "unset")
    return (
        f"{', '.join(parts)}\nCPU: {cpu}, {os.cpu_count()} logical cores; "
        f"OMP_WAIT_POLICY={policy} (torch's OpenMP threads), onnxruntime's intra-op threads "
        "spin (its default)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="jpg + 68-point pts")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="300-W tree (hold-out)")
    parser.add_argument("--quick", action="store_true", help="one timed round per variant")
    args = parser.parse_args()
    rounds = 1 if args.quick else 5
    start = time.perf_counter()

    dlib_path = dlib_model_path()
    print(versions(dlib_path))
    if dlib_path is None:
        print(
            "\nNOTE: face-recognition-models is not installed (pip install "
            "'heatmark[baselines]'): no dlib shape_predictor baseline; ratios are against "
            "torch eager on the same threads."
        )
        dlib = None
    else:
        dlib = DlibLandmarks(dlib_path)

    model = load_shipped_model()
    fused = accelerate(model, inference=True)
    faces = load_faces(args.faces.resolve(), NUM_FACES, model)
    d = model.description
    print(
        f"\nshipped model default: {shipped_model('default').summary}; {d.input_size} px "
        f"input, {d.num_points} points, decoding {d.decoding.value}; {NUM_FACES} afw faces "
        "(HOG boxes)"
    )
    with tempfile.TemporaryDirectory() as folder:
        onnx_path = export_onnx(
            model.network,
            model.codec,
            model.scheme,
            Path(folder) / "model.onnx",
            enlarge=d.enlarge,
            decode=d.decoding,
            softmax=d.softmax,
            temperature=d.temperature,
            terms=model.terms,
        )
        backends: dict[str, LandmarkModel | Path] = {
            "torch eager": model,
            "torch BN-folded + channels_last": fused,
            "onnxruntime": onnx_path,
        }
        if "fast" in shipped_names():
            backends[FAST] = shipped_model("fast").onnx

        print(f"\n## Landmark network + decode on prepared {d.input_size} px crops\n")
        network, dlib_network = bench_network(model, fused, onnx_path, faces, dlib, rounds)
        print("\n" + network_table(network, dlib_network))

        print("\n## Predictor.landmarks per face (crop + network + decode + map back)\n")
        landmarks, dlib_time, errors = bench_landmarks(backends, faces, dlib, rounds)
        print(landmarks_table(landmarks, dlib_time, errors))
        note = "refine 1 runs the network twice per face."
        if dlib_time is not None:
            note = f"dlib's time includes its own cropping (it gets the image and the box); {note}"
        print(f"\n{note}")

    print("\n## Whole pipeline on a 640 x 480 JPEG with one face (2 cores)\n")
    jpeg = pipeline_image()
    pipeline = bench_pipeline(jpeg, dlib, rounds * 8)
    print(pipeline_table(pipeline))
    print(
        f"\n(JPEG {len(jpeg) / 1024:.0f} KiB; total = Predictor.predict(bytes), or decode + "
        "detect + shape_predictor for dlib; stages timed alone; heatmark default = "
        "Predictor(): yunet + onnxruntime + refine 0; dlib's HOG and shape predictor run one "
        "thread, onnxruntime and YuNet up to 2.)"
    )

    print("\n## Video: 640 px frames, tracking, re-detection every 10 frames (2 cores)\n")
    video = bench_video(rounds)
    print(video_table(video))

    if args.data.is_dir():
        print(f"\n## Detection rates on the hold-out ({args.data})\n")
        detection, count = bench_detection(args.data)
        print(detection_table(detection))
        print(
            f"\n({count} held-out faces, robustness-suite perturbations; a face is found when "
            "a calibrated detection overlaps its landmark box with IoU >= 0.3; ms per image "
            "in brackets.)"
        )

    print("\n## Goals\n")
    print_goals(landmarks, dlib_time, pipeline)
    print_fast_goals(landmarks, dlib_time, video)
    print(f"\n(total run time {time.perf_counter() - start:.0f} s)")


# ---------------------------------------------------------------- 5. video


def bench_video(rounds: int) -> dict[str, dict[str, float]]:
    """Frames/s of ``track_frames`` (re-detect every 10, smoothing on) and still-face jitter,
    for the default and (when shipped) the fast model."""
    from heatmark.predict.showcase import camera_motion, sample_portrait, still_with_noise

    portrait = read_image(sample_portrait())
    height = round(portrait.shape[0] * 640 / portrait.shape[1])
    frame = cv2.resize(portrait, (640, height), interpolation=cv2.INTER_AREA)
    moving = camera_motion(frame, VIDEO_FRAMES)
    models = ["default"] + (["fast"] if "fast" in shipped_names() else [])
    results: dict[str, dict[str, float]] = {}
    tracks: dict[str, list] = {}
    for name in models:
        predictor = Predictor(model=name, batch_size=BATCH)

        def run(p: Predictor = predictor) -> list:
            return [r for r, _ in p.track_frames(moving, redetect_every=10, smooth=True)]

        seconds = best_times({name: run}, max(1, rounds // 2))[name]
        tracked = tracks[name] = run()
        still = [r for r, _ in predictor.track_frames(still_with_noise(frame), smooth=True)]
        results[name] = {
            "fps": VIDEO_FRAMES / seconds,
            "with_face": sum(bool(r.faces) for r in tracked) / len(tracked),
            "jitter_raw": 100 * jitter(still, raw=True, normalize=True),
            "jitter_smoothed": 100 * jitter(still, normalize=True),
            "from_default": 100 * gap_to(tracked, tracks["default"]),
        }
    return results


def gap_to(tracked: list, reference: list) -> float:
    """Mean distance of each frame's first face's points to the reference run's, in % of the
    reference's inter-ocular distance (no ground truth on the clip: agreement with default)."""
    gaps = []
    for ours, theirs in zip(tracked, reference, strict=True):
        if ours.faces and theirs.faces:
            a, b = ours.faces[0].points, theirs.faces[0].points
            gaps.append(np.linalg.norm(a - b, axis=1).mean() / np.linalg.norm(b[36] - b[45]))
    return float(np.mean(gaps)) if gaps else float("nan")


def video_table(results: dict[str, dict[str, float]]) -> str:
    rows = [
        [
            name,
            f"{r['fps']:.0f}",
            f"{100 * r['with_face']:.0f}%",
            f"{r['jitter_raw']:.3f}",
            f"{r['jitter_smoothed']:.3f}",
            f"{r['from_default']:.2f}",
        ]
        for name, r in results.items()
    ]
    headers = ["model", "frames/s", "frames with a face", "jitter raw %", "jitter smoothed %"]
    headers += ["points from default's, % IOD"]
    return markdown(headers, rows)


def print_fast_goals(landmarks: dict, dlib_time: float | None, video: dict) -> None:
    if not any(name == FAST for name, *_ in landmarks):
        print("- fast model: not shipped, not checked")
        return
    if dlib_time is None:
        print(f"- fast model within {FAST_GOAL:.1f}x of dlib: not checked (no dlib)")
    else:
        single = landmarks[(FAST, 1, 0, 1)]
        met = "MET" if single / dlib_time <= FAST_GOAL else "NOT met"
        print(
            f"- fast model's landmark stage (batch 1, 1 thread) <= {FAST_GOAL:.1f}x dlib's "
            f"{dlib_time * 1e3:.2f} ms/face: {met} ({single * 1e3:.2f} ms, "
            f"{single / dlib_time:.2f}x)"
        )
        batched = min(landmarks[(FAST, threads, 0, BATCH)] for threads in THREADS)
        met = "MET" if batched <= dlib_time else "NOT met"
        print(
            f"- fast model at batch {BATCH}: faces/s >= dlib's: {met} ({1 / batched:.0f} vs "
            f"{1 / dlib_time:.0f} faces/s)"
        )
    fps = video["fast"]["fps"]
    met = "MET" if fps >= VIDEO_GOAL else "NOT met"
    print(f"- fast model's video pipeline >= {VIDEO_GOAL:.0f} frames/s: {met} ({fps:.0f})")


def print_goals(landmarks: dict, dlib_time: float | None, pipeline: list[dict]) -> None:
    if dlib_time is None:
        print(f"- landmark stage within {LANDMARK_GOAL:.0f}x of dlib: not checked (no dlib)")
    else:
        for refine in (1, 0):
            for batch in (1, BATCH):
                (name, threads), best = min(
                    (
                        ((n, th), t)
                        for (n, th, r, b), t in landmarks.items()
                        if (r, b) == (refine, batch) and n != FAST
                    ),
                    key=lambda item: item[1],
                )
                met = "MET" if best / dlib_time <= LANDMARK_GOAL else "NOT met"
                print(
                    f"- landmark stage (Predictor.landmarks, refine {refine}, batch {batch}) "
                    f"within {LANDMARK_GOAL:.0f}x of dlib's {dlib_time * 1e3:.2f} ms/face: {met}: "
                    f"best {name} on {threads} thread(s) {best / dlib_time:.2f}x"
                )
    rows = {row["variant"]: row["total"] for row in pipeline}
    ours = rows["heatmark default"]
    for name, goal in (
        ("dlib default (HOG upsample 1)", DLIB_DEFAULT_GOAL),
        ("dlib fastest (HOG upsample 0)", DLIB_FASTEST_GOAL),
    ):
        if name not in rows:
            print(f"- heatmark default >= {goal}x {name}: not checked (no dlib)")
            continue
        speedup = rows[name] / ours
        met = "MET" if speedup >= goal else "NOT met"
        print(
            f"- whole pipeline, heatmark default >= {goal}x {name}: {met} ({speedup:.2f}x: "
            f"{1 / ours:.1f} vs {1 / rows[name]:.1f} images/s)"
        )


if __name__ == "__main__":
    main()
