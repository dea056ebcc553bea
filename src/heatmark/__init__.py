"""heatmark: robust facial landmark detection by heatmap regression.

Pipeline, one package per stage: ``schemes`` (what the points are) -> ``data`` (readers,
geometry, augmentation) -> ``codec`` (heatmap targets in, points out) -> ``models`` ->
``losses`` -> ``train`` / ``evaluate`` -> ``robustness`` -> ``predict``.

Pixel convention, everywhere inside heatmark: points are 0-based pixel centres, i.e. the
centre of the top-left pixel is (0, 0) and its area spans [-0.5, 0.5]^2. Readers and writers
convert at the edges (``.pts`` files are 1-based).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from heatmark.predict.predictor import Predictor

__all__ = ["Predictor", "__version__"]


def __getattr__(name: str) -> Any:
    """``heatmark.Predictor`` without importing torch and OpenCV on ``import heatmark``."""
    if name == "Predictor":
        from heatmark.predict.predictor import Predictor

        return Predictor
    raise AttributeError(f"module 'heatmark' has no attribute {name!r}")
