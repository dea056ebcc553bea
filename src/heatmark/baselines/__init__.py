"""Other tools' landmark detectors, wrapped so that heatmark's evaluations can put them beside
heatmark's own models (optional: ``pip install 'heatmark[baselines]'``)."""

from heatmark.baselines.dlib68 import DlibLandmarker, dlib_model_path

__all__ = ["DlibLandmarker", "dlib_model_path"]
