"""``Sample``: the one record every reader produces, and the checks every reader applies.

Points are stored in the heatmark pixel convention: 0-based pixel centres (the centre of the
top-left pixel is (0, 0)). Readers convert from their file's convention on the way in.

Physical plausibility (``check_annotation``, called by every reader with the image's size, read
from its header by ``image_size``). An annotation is refused, naming its file (and line), when

- all its points are identical (a placeholder such as every point at (0, 0));
- a labelled point lies more than ``OUTSIDE_MARGIN`` (50%) of the image's larger side outside
  the image (the image spans -0.5 .. width - 0.5 in pixel-centre coordinates). Points annotated
  invisible may hold placeholder coordinates (LSP: -1 or an edge value, COCO ``v = 0``: 0, 0)
  and only have to lie within ``PLACEHOLDER_REACH`` (10) larger sides of the image;
- its normalising distance is zero (below ``MIN_NORMALISER`` pixels): the outer-eye-corner
  distance of face schemes that define the eyes, the torso size of body schemes, the box size
  (dataset box, else the landmark box) of the others (AFLW). Normalising points annotated
  invisible are not checked: they may be placeholders (LSP).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import PIL.Image

from heatmark.errors import DataError, HeatmarkError
from heatmark.schemes import Scheme

OUTSIDE_MARGIN = 0.5  # a labelled point may lie this fraction of the larger side outside
PLACEHOLDER_REACH = 10.0  # an invisible point may lie this many larger sides outside
MIN_NORMALISER = 0.01  # pixels; a smaller normalising distance counts as zero


def is_body_scheme(scheme: Scheme) -> bool:
    """Body schemes are those with a torso pair (LSP). Their invisible joints may hold
    placeholder coordinates, so those are left out of crops, losses and metrics; face schemes
    annotate occluded points where they are (COFW) and keep them."""
    return scheme.torso is not None


@dataclass
class Sample:
    """One annotated face (or body) in one image.

    Attributes:
        points: (K, 2) float64 landmark positions, 0-based pixel centres.
        scheme: the markup the points follow.
        image_path: the image file, or the video file when ``frame_index`` is set.
        image: the pixels when the dataset embeds them (COFW ``.mat``), RGB uint8 (H, W, 3).
        frame_index: 0-based frame number inside the video ``image_path``.
        box: face box ``(x_min, y_min, x_max, y_max)`` in the same pixel convention, if the
            dataset gives one; otherwise derive it from the points.
        visible: (K,) bool, False for points annotated as occluded/invisible.
        attributes: dataset attribute flags (WFLW: pose, expression, illumination, make-up,
            occlusion, blur).
        subset: the part of the benchmark the sample belongs to (``"helen/trainset"``,
            ``"ibug"``, ``"common"``...).
        source: the annotation file (and line) the sample was read from, for error messages.
    """

    points: np.ndarray
    scheme: Scheme
    image_path: Path | None = None
    image: np.ndarray | None = None
    frame_index: int | None = None
    box: np.ndarray | None = None
    visible: np.ndarray | None = None
    attributes: dict[str, bool] = field(default_factory=dict)
    subset: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        self.points = np.asarray(self.points, dtype=np.float64)
        where = self.source or str(self.image_path or "<sample>")
        if self.points.shape != (self.scheme.num_points, 2):
            raise DataError(
                where,
                f"expected {self.scheme.num_points} points of the {self.scheme.name} scheme, "
                f"got array of shape {self.points.shape}",
            )
        if not np.isfinite(self.points).all():
            bad = int(np.flatnonzero(~np.isfinite(self.points).all(axis=1))[0])
            raise DataError(
                where, f"point {bad + 1} (1-based) is not finite: {self.points[bad].tolist()}"
            )
        if self.box is not None:
            self.box = np.asarray(self.box, dtype=np.float64).reshape(4)
        if self.visible is not None:
            self.visible = np.asarray(self.visible, dtype=bool).reshape(self.scheme.num_points)

    def landmark_box(self) -> np.ndarray:
        """The tight box of the points, ``(x_min, y_min, x_max, y_max)``.

        For body schemes (``is_body_scheme``) only the visible points count (when at least two
        are): their invisible joints may hold placeholder coordinates far from the person."""
        points = self.points
        if self.visible is not None and is_body_scheme(self.scheme) and self.visible.sum() >= 2:
            points = points[self.visible]
        return np.concatenate([points.min(axis=0), points.max(axis=0)])

    def load_image(self) -> np.ndarray:
        """The image as RGB uint8 (H, W, 3). Raises ``DataError`` naming the file."""
        if self.image is not None:
            return self.image
        if self.image_path is None:
            raise DataError(self.source or "<sample>", "sample has neither image nor image_path")
        if self.frame_index is not None:
            return read_video_frame(self.image_path, self.frame_index)
        return read_image(self.image_path)


def is_file(path: Path) -> bool:
    """``path.is_file()`` that also answers False for names the OS refuses (too long, NUL)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def read_image_bytes(path: Path) -> np.ndarray:
    """The encoded bytes of the image file at ``path`` (uint8); ``DataError`` naming it when it
    is missing or unreadable."""
    if not is_file(path):
        raise DataError(path, "image file not found")
    try:
        return np.fromfile(str(path), dtype=np.uint8)
    except OSError as error:
        raise DataError(path, f"cannot read image file ({error.strerror or error})") from None


def read_image(path: Path) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3); grey images are expanded to 3 channels.

    The stored pixels are returned as they are: an EXIF orientation tag is ignored
    (``IMREAD_IGNORE_ORIENTATION``), because annotations refer to the stored pixels and
    ``IMREAD_COLOR`` alone would rotate such JPEGs away from their landmarks.
    """
    data = read_image_bytes(path)
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise DataError(path, "cannot decode image (unreadable or truncated file)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_video_frame(path: Path, frame_index: int) -> np.ndarray:
    """Read one 0-based frame of a video file as RGB uint8."""
    if not is_file(path):
        raise DataError(path, "video file not found")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise DataError(path, "cannot open video")
        capture.set(cv2.CAP_PROP_POS_FRAMES, frame_index)
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok or frame is None:
        raise DataError(path, f"cannot read frame {frame_index} (video too short or corrupt)")
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def image_size(image: Path, source: Path | str, line: int | None = None) -> tuple[int, int]:
    """``(width, height)`` of the stored pixels of ``image``, from its header alone.

    Pillow reads the header without decoding (EXIF orientation is not applied, as in
    ``read_image``); a file Pillow cannot identify is decoded with OpenCV as a fallback. A
    missing file raises ``DataError`` at the annotation ``source`` (and ``line``); an
    unreadable one names the image and the annotation that refers to it.
    """
    where = f"{source}:{line}" if line is not None else str(source)
    if not is_file(image):
        raise DataError(source, f"image file not found: {image}", line)
    try:
        with PIL.Image.open(image) as opened:
            width, height = opened.size
    except Exception:  # Pillow raises many kinds for unknown or corrupt headers
        try:
            decoded = read_image(image)
        except DataError:
            raise DataError(
                image, f"cannot read the image (unknown format or corrupt file), used by {where}"
            ) from None
        height, width = decoded.shape[:2]
    if width <= 0 or height <= 0:
        raise DataError(image, f"the image has no pixels ({width} x {height}), used by {where}")
    return int(width), int(height)


class ImageSizes:
    """``image_size`` with each image's header read once (several faces may share an image)."""

    def __init__(self) -> None:
        self._sizes: dict[Path, tuple[int, int]] = {}

    def __call__(self, image: Path, source: Path | str, line: int | None = None) -> tuple[int, int]:
        size = self._sizes.get(image)
        if size is None:
            size = self._sizes[image] = image_size(image, source, line)
        return size


def check_annotation(
    sample: Sample,
    size: tuple[int, int],
    path: Path | str,
    line: int | None = None,
    label: str = "",
    point_line: Callable[[int], int | None] | None = None,
) -> None:
    """Refuse an annotation that cannot be a real one (rules in the module docstring).

    ``size`` is the image's ``(width, height)``. The ``DataError`` names ``path`` and ``line``
    (or ``point_line(k)``, the file line of 0-based point ``k``, when a point is at fault) and
    starts the message with ``label`` (the annotation inside the file, e.g. ``"phisT row 2"``).
    """
    width, height = size
    points = sample.points
    count = len(points)
    prefix = f"{label}: " if label else ""
    if count > 1 and (points == points[0]).all():
        x, y = points[0]
        raise DataError(
            path,
            f"{prefix}all {count} points are identical ({x:g}, {y:g}): a placeholder, "
            "not an annotation",
            line,
        )
    labelled = np.ones(count, bool) if sample.visible is None else sample.visible
    larger = max(width, height)
    for reach, which, rule in (
        (OUTSIDE_MARGIN, labelled, f"{OUTSIDE_MARGIN:.0%} of the image's larger side"),
        (
            PLACEHOLDER_REACH,
            ~labelled,
            f"{PLACEHOLDER_REACH:g} times the image's larger side (invisible point)",
        ),
    ):
        margin = reach * larger
        x, y = points[:, 0], points[:, 1]
        outside = which & (
            (x < -0.5 - margin)
            | (x > width - 0.5 + margin)
            | (y < -0.5 - margin)
            | (y > height - 0.5 + margin)
        )
        if outside.any():
            bad = int(np.flatnonzero(outside)[0])
            where = point_line(bad) if point_line is not None else None
            raise DataError(
                path,
                f"{prefix}point {bad + 1} of {count} ({x[bad]:g}, {y[bad]:g}) lies more than "
                f"{rule} outside the {width} x {height} image",
                where if where is not None else line,
            )
    normaliser = _normaliser(sample, labelled)
    if normaliser is not None and not normaliser[1] >= MIN_NORMALISER:
        name, distance = normaliser
        raise DataError(
            path,
            f"{prefix}the {name} is {distance:g} px (under {MIN_NORMALISER:g}): the annotation "
            "cannot be normalised",
            line,
        )


def _normaliser(sample: Sample, labelled: np.ndarray) -> tuple[str, float] | None:
    """The scheme's normalising distance and its name; None when its points are unlabelled."""
    scheme, points = sample.scheme, sample.points
    for name, pair in (
        ("inter-ocular distance", scheme.outer_eye_corners),
        ("torso size", scheme.torso),
    ):
        if pair is not None:
            a, b = pair
            if not (labelled[a] and labelled[b]):
                return None
            label = f"{name} (points {a + 1} and {b + 1})"
            return label, float(np.linalg.norm(points[a] - points[b]))
    box = sample.box if sample.box is not None else sample.landmark_box()
    size = float(np.sqrt(max(box[2] - box[0], 0.0)) * np.sqrt(max(box[3] - box[1], 0.0)))
    return ("box size" if sample.box is not None else "landmark box size"), size


def as_rgb(array: np.ndarray, where: str = "image") -> np.ndarray:
    """An RGB uint8 (H, W, 3) array from an RGB, RGBA or grey ((H, W) or (H, W, 1)) uint8 one;
    anything else is a ``HeatmarkError`` naming ``where``."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise HeatmarkError(f"{where}: images must be uint8 RGB, got dtype {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    if array.ndim == 3 and array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_RGBA2RGB)
    if array.ndim != 3 or array.shape[2] != 3:
        raise HeatmarkError(f"{where}: images must be (H, W, 3) RGB, got shape {array.shape}")
    return np.ascontiguousarray(array)
