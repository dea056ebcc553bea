"""``Sample``: the one record every reader produces.

Points are stored in the heatmark pixel convention: 0-based pixel centres (the centre of the
top-left pixel is (0, 0)). Readers convert from their file's convention on the way in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from heatmark.errors import DataError
from heatmark.schemes import Scheme


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
            raise DataError(where, f"point {bad} is not finite: {self.points[bad].tolist()}")
        if self.box is not None:
            self.box = np.asarray(self.box, dtype=np.float64).reshape(4)
        if self.visible is not None:
            self.visible = np.asarray(self.visible, dtype=bool).reshape(self.scheme.num_points)

    def landmark_box(self) -> np.ndarray:
        """The tight box of the points, ``(x_min, y_min, x_max, y_max)``."""
        return np.concatenate([self.points.min(axis=0), self.points.max(axis=0)])

    def load_image(self) -> np.ndarray:
        """The image as RGB uint8 (H, W, 3). Raises ``DataError`` naming the file."""
        if self.image is not None:
            return self.image
        if self.image_path is None:
            raise DataError(self.source or "<sample>", "sample has neither image nor image_path")
        if self.frame_index is not None:
            return read_video_frame(self.image_path, self.frame_index)
        return read_image(self.image_path)


def read_image(path: Path) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3); grey images are expanded to 3 channels."""
    if not path.is_file():
        raise DataError(path, "image file not found")
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise DataError(path, "cannot decode image (unreadable or truncated file)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_video_frame(path: Path, frame_index: int) -> np.ndarray:
    """Read one 0-based frame of a video file as RGB uint8."""
    if not path.is_file():
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
