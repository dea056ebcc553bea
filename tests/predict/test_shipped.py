"""The shipped model: in the package, loaded by default, terms stated, accurate on real faces."""

from pathlib import Path

import numpy as np
import pytest

import heatmark
from heatmark.models.shipped import SHIPPED_STEM, load_shipped_model

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "300w"


def test_shipped_model_is_small_self_describing_and_states_its_terms() -> None:
    size = SHIPPED_STEM.with_suffix(".safetensors").stat().st_size
    assert size < 10 * 2**20  # at most 10 MB in the package
    model = load_shipped_model()
    d = model.description
    assert (d.scheme, d.input_size, d.heatmap_size) == ("300w-68", 128, 32)
    assert "300-W" in model.terms and "non-commercial" in model.terms
    predictor = heatmark.Predictor(detector="none")
    assert predictor.terms == model.terms


def test_shipped_model_on_held_out_real_faces() -> None:
    """Faces of the validation hold-out (never trained on), HOG detector boxes: most faces are
    found and landmarked well (measured: README, Predict section)."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data/300w not available")
    from heatmark.data.readers.auto import load_dataset
    from heatmark.data.split import holdout_split
    from heatmark.evaluate.detections import box_iou

    samples = load_dataset(SHARED)
    _, val = holdout_split(samples, 0.1, seed=0, subset="helen/trainset")
    val = val[:30]
    predictor = heatmark.Predictor(detector="hog")
    errors = []
    found = predictor.predict_batch([s.image_path for s in val])
    for sample, faces in zip(val, found, strict=True):
        if not faces:
            continue
        truth = sample.landmark_box()
        best = max(faces, key=lambda f: box_iou(truth, f.point_box())[0, 0])
        inter_ocular = np.linalg.norm(sample.points[36] - sample.points[45])
        errors.append(np.linalg.norm(best.points - sample.points, axis=1).mean() / inter_ocular)
    assert len(errors) >= 0.8 * len(val)  # HOG finds 95% of the 87 hold-out faces
    assert np.median(errors) < 0.06  # mean 3.63% over the 87 (benchmarks/detector_boxes.py)
