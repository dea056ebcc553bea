"""The model heatmark ships: ``heatmark.Predictor()`` and ``heatmark predict`` use it by default.

It lives in the package (``heatmark/weights/``: safetensors weights + JSON sidecar, 1.7 MB), so
nothing is downloaded, ever. It was trained with ``configs/cpu_shipped_300w.yaml`` on the
iBUG 300-W annotations, so the 300-W terms of use (research and non-commercial use only) apply
to it; loading it prints them through ``Predictor.terms`` / the CLI.

Re-create the shipped files from a training run (keeps the weights, writes a fresh sidecar with
the model description, the recipe and the validation figures)::

    heatmark train -c configs/cpu_shipped_300w.yaml
    python -m heatmark.models.shipped runs/cpu-shipped-300w/best
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from heatmark.codec import Decoding
from heatmark.models.checkpoint import (
    TERMS_300W,
    checkpoint_stem,
    load_landmark_model,
    read_metadata,
    save_checkpoint,
)
from heatmark.models.landmark_model import LandmarkModel

WEIGHTS_FOLDER = Path(__file__).resolve().parents[1] / "weights"
SHIPPED_NAME = "heatmark-hg1-w64-300w68"
SHIPPED_STEM = WEIGHTS_FOLDER / SHIPPED_NAME


def load_shipped_model() -> LandmarkModel:
    """The shipped 68-point model (a 1-stack hourglass, 128 px input), in eval mode."""
    return load_landmark_model(SHIPPED_STEM)


def package(
    checkpoint: str | Path, stem: Path = SHIPPED_STEM, decoding: Decoding = Decoding.GET_BC
) -> Path:
    """Write ``checkpoint``'s weights as the shipped model at ``stem`` with a lean sidecar.

    The shipped model decodes with the windowed barycenter (GET_BC): on the validation hold-out
    it gives 3.60% NME against 3.84% with GET_MAX (the same ranking as the CPU recipe's).
    """
    source = checkpoint_stem(checkpoint)
    model = load_landmark_model(source)
    meta = read_metadata(source)
    keep = ("config", "scheme", "num_points", "epoch", "metrics", "train_images", "val_images")
    metadata = {key: meta[key] for key in keep if key in meta}
    metadata["description"] = replace(model.description, decoding=decoding).to_dict()
    metadata["terms"] = meta.get("terms", TERMS_300W)
    metadata["recipe"] = "configs/cpu_shipped_300w.yaml"
    save_checkpoint(stem, model.network, metadata)
    return stem


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m heatmark.models.shipped RUN_DIR/best")
    print(package(sys.argv[1]))
