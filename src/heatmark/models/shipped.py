"""The model heatmark ships: ``heatmark.Predictor()`` and ``heatmark predict`` use it by default.

It lives in the package (``heatmark/weights/``: safetensors weights + JSON sidecar, 1.7 MB), so
nothing is downloaded, ever. It was trained with the bundled recipe ``cpu_shipped_300w``
(``heatmark recipes show cpu_shipped_300w``) on the iBUG 300-W annotations, so the 300-W terms
of use (research and non-commercial use only) apply to it; loading it prints them through
``Predictor.terms`` / the CLI.

Next to the weights sits their ONNX export (``heatmark-hg1-w64-300w68.onnx`` + ``.onnx.json``,
decoder in the graph), which ``Predictor()`` runs with onnxruntime on the CPU by default, so
nothing is exported at run time. ``tests/predict/test_shipped.py`` checks that the export gives
the weights' points.

Re-create the shipped files from a training run (keeps the weights, writes a fresh sidecar with
the model description, the recipe and the validation figures, and exports the ONNX file), from
any folder::

    heatmark train -c cpu_shipped_300w --set data.train=PATH/TO/300w
    python -m heatmark.models.shipped runs/cpu-shipped-300w/best [STEM]

Without ``STEM`` it replaces the files in the package's ``weights/`` (the ones
``heatmark predict`` loads); with it, it writes ``STEM.safetensors``, ``STEM.json`` and
``STEM.onnx``. Only re-export the ONNX file of the weights in the package::

    python -m heatmark.models.shipped --onnx
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

from heatmark.codec import Decoding
from heatmark.errors import HeatmarkError
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
SHIPPED_RECIPE = "cpu_shipped_300w"
"""The bundled recipe (``heatmark.recipes``) the shipped model is trained with."""
SHIPPED_ONNX = WEIGHTS_FOLDER / f"{SHIPPED_NAME}.onnx"


@dataclass(frozen=True)
class ShippedModel:
    """A model inside the package, named by its role (``default``): what users ask for by
    name (``Predictor(model="default")``, ``heatmark predict --model default``), whatever its
    files are called. A model replaced as ``default`` stays loadable by its file name."""

    name: str
    file_name: str
    summary: str

    @property
    def stem(self) -> Path:
        return WEIGHTS_FOLDER / self.file_name

    @property
    def onnx(self) -> Path:
        """Its shipped ONNX export (decoder in the graph), run by onnxruntime on the CPU."""
        return WEIGHTS_FOLDER / f"{self.file_name}.onnx"


SHIPPED_MODELS: tuple[ShippedModel, ...] = (
    ShippedModel(
        "default",
        SHIPPED_NAME,
        "1-stack hourglass, width 64, 128 px input, 32x32 maps, GET_BC (recipe "
        f"{SHIPPED_RECIPE}); 300-W terms",
    ),
)
"""The shipped models by role; each is also found by its file name without ``heatmark-``."""


def shipped_names() -> list[str]:
    """Every name a shipped model answers to: roles first, then file names."""
    roles = [model.name for model in SHIPPED_MODELS]
    files = [model.file_name.removeprefix("heatmark-") for model in SHIPPED_MODELS]
    return roles + [name for name in files if name not in roles]


def shipped_model(name: str = "default") -> ShippedModel:
    """The shipped model called ``name`` (a role or a file name); an unknown name is a
    ``HeatmarkError`` listing the known ones."""
    for model in SHIPPED_MODELS:
        if name in (model.name, model.file_name, model.file_name.removeprefix("heatmark-")):
            return model
    raise HeatmarkError(
        f"no shipped model named {name!r}; shipped models: {', '.join(shipped_names())}"
    )


def load_shipped_model(name: str = "default") -> LandmarkModel:
    """A shipped model by name (``default``: the 68-point 1-stack hourglass), in eval mode."""
    return load_landmark_model(shipped_model(name).stem)


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
    metadata["recipe"] = SHIPPED_RECIPE
    save_checkpoint(stem, model.network, metadata)
    export_shipped_onnx(stem, stem.with_name(stem.name + ".onnx"))
    return stem


def export_shipped_onnx(stem: Path = SHIPPED_STEM, out: Path = SHIPPED_ONNX) -> Path:
    """Export the shipped weights at ``stem`` to ``out`` (+ sidecar), decoder in the graph,
    and check onnxruntime against torch (``HeatmarkError`` if they disagree)."""
    from heatmark.export.onnx import export_checkpoint

    path, report = export_checkpoint(stem, out, check=True)
    if report is None or not report["passed"]:
        raise HeatmarkError(f"{path}: onnxruntime disagrees with torch: {report}")
    return path


def main(argv: list[str]) -> int:
    if argv == ["--onnx"]:
        print(export_shipped_onnx())
        return 0
    if len(argv) not in (1, 2) or any(a.startswith("-") for a in argv):
        print(
            "usage: python -m heatmark.models.shipped RUN_DIR/best [STEM]  (package a run + "
            "export)\n       python -m heatmark.models.shipped --onnx  (re-export the ONNX file)",
            file=sys.stderr,
        )
        return 2
    target = Path(argv[1]) if len(argv) == 2 else SHIPPED_STEM
    try:
        print(package(argv[0], target))
    except HeatmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
