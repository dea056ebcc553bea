"""dlib's 68-point shape predictor (Kazemi & Sullivan's regression-tree ensemble), as a baseline.

The model file ``shape_predictor_68_face_landmarks.dat`` comes from the ``face-recognition-models``
package (the ``baselines`` extra). Its ``__init__`` imports ``pkg_resources``, which recent
setuptools no longer ship, so the file is located through the import system without importing
the package. The predictor was trained on the boxes of dlib's HOG face detector, so a landmark
box (the tight box of the points, heatmark's crop convention) is turned into the HOG box it
corresponds to with the inverse of the shipped HOG box calibration before dlib sees it: both
tools then start from the same face box, each in its own convention.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from heatmark.errors import HeatmarkError
from heatmark.predict.calibration import BoxCalibration, calibration_for
from heatmark.schemes import FACE_68, Scheme

MODEL_FILE = "shape_predictor_68_face_landmarks.dat"
INSTALL_HINT = "pip install 'heatmark[baselines]' (dlib-bin + face-recognition-models)"


def dlib_model_path() -> Path | None:
    """The installed ``shape_predictor_68_face_landmarks.dat``, or None without the package."""
    try:
        spec = importlib.util.find_spec("face_recognition_models")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "models" / MODEL_FILE
        if path.is_file():
            return path
    return None


class DlibLandmarker:
    """(RGB image, landmark box) -> (68, 2) points in image pixels (0-based pixel centres).

    ``box_calibration`` maps dlib HOG boxes to landmark boxes (default: the shipped one for
    ``hog``); its inverse gives dlib the box it was trained on.
    """

    scheme: Scheme = FACE_68
    label = "regression trees (dlib)"

    def __init__(
        self, path: Path | None = None, box_calibration: BoxCalibration | None = None
    ) -> None:
        try:
            import dlib
        except ImportError as error:  # pragma: no cover - dlib-bin is a core dependency
            raise HeatmarkError(f"the dlib baseline needs dlib: {INSTALL_HINT}") from error
        path = path if path is not None else dlib_model_path()
        if path is None or not Path(path).is_file():
            raise HeatmarkError(f"dlib's {MODEL_FILE} is not installed: {INSTALL_HINT}")
        self.path = Path(path)
        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(self.path))
        self.calibration = box_calibration or calibration_for("hog", strict=True)

    def detector_box(self, landmark_box: np.ndarray) -> np.ndarray:
        """The HOG-style box dlib expects for a face whose landmark box is ``landmark_box``."""
        return self.calibration.invert(landmark_box)[0]

    def __call__(self, rgb: np.ndarray, landmark_box: np.ndarray) -> np.ndarray:
        left, top, right, bottom = (round(float(v)) for v in self.detector_box(landmark_box))
        shape = self._predictor(
            np.ascontiguousarray(rgb), self._dlib.rectangle(left, top, right, bottom)
        )
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
