"""The models heatmark ships, by role: ``default`` is what ``heatmark.Predictor()`` and
``heatmark predict`` use; ``Predictor(model=NAME)`` and ``--model NAME`` pick another.

They live in the package (``heatmark/weights/``: safetensors weights + JSON sidecar), so nothing
is downloaded, ever. Each was trained with a bundled recipe (``ShippedModel.recipe``, see
``heatmark recipes show NAME``) on the iBUG 300-W annotations, so the 300-W terms of use
(research and non-commercial use only) apply to them; loading one prints them through
``Predictor.terms`` / the CLI.

Next to each model's weights sits its ONNX export (``FILE.onnx`` + ``FILE.onnx.json``, decoder
in the graph), which ``Predictor`` runs with onnxruntime on the CPU by default, so nothing is
exported at run time. ``tests/predict/test_shipped.py`` checks that every export gives its
weights' points.

Re-create a shipped model from a training run (keeps the weights, writes a fresh sidecar with
the model description, the recipe and the validation figures, and exports the ONNX file), from
any folder::

    heatmark train -c cpu_shipped_300w --set data.train=PATH/TO/300w
    python -m heatmark.models.shipped runs/cpu-shipped-300w/last [--as NAME] [STEM]

Without ``STEM`` it replaces the model's files in the package's ``weights/`` (the ones
``heatmark predict`` loads); with it, it writes ``STEM.safetensors``, ``STEM.json`` and
``STEM.onnx``. Only re-export the ONNX files of the weights in the package::

    python -m heatmark.models.shipped --onnx [NAME]
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


@dataclass(frozen=True)
class ShippedModel:
    """A model inside the package, named by its role (``default``): what users ask for by name
    (``Predictor(model="default")``, ``heatmark predict --model default``), whatever its files
    are called. Each also answers to its file name without ``heatmark-``, so a model
    replaced in its role stays loadable by that name."""

    name: str
    file_name: str
    recipe: str
    """The bundled recipe (``heatmark recipes show NAME``) it was trained with."""
    summary: str

    @property
    def alias(self) -> str:
        """Its file name without ``heatmark-``, which it also answers to."""
        return self.file_name.removeprefix("heatmark-")

    @property
    def stem(self) -> Path:
        return WEIGHTS_FOLDER / self.file_name

    @property
    def onnx(self) -> Path:
        """Its shipped ONNX export (decoder in the graph), run by onnxruntime on the CPU."""
        return WEIGHTS_FOLDER / f"{self.file_name}.onnx"


DEFAULT = ShippedModel(
    "default",
    "heatmark-hg2-w64-300w68",
    "cpu_precise_300w",
    "2-stack hourglass, width 64, 128 px input, 32x32 maps, GET_BC (issue 20); 300-W terms",
)
HG1 = ShippedModel(
    "hg1-w64-300w68",
    "heatmark-hg1-w64-300w68",
    "cpu_shipped_300w",
    "the default until issue 20: 1-stack hourglass, width 64, 128 px input, 32x32 maps, "
    "GET_BC; 300-W terms",
)
FAST = ShippedModel(
    "fast",
    "heatmark-mobile96-300w68",
    "cpu_fast_300w",
    "the fast model (issue 21): depthwise-separable encoder-decoder, 96 px input, 24x24 maps, "
    "GET_BC, distilled from default; as fast per face as dlib; 300-W terms",
)
SHIPPED_MODELS: tuple[ShippedModel, ...] = (DEFAULT, FAST, HG1)
"""The shipped models, roles first."""
SHIPPED_NAME = DEFAULT.file_name
SHIPPED_STEM = DEFAULT.stem
SHIPPED_ONNX = DEFAULT.onnx
SHIPPED_RECIPE = DEFAULT.recipe


def shipped_names() -> list[str]:
    """Every name a shipped model answers to: roles first, then file names."""
    roles = [model.name for model in SHIPPED_MODELS]
    files = [model.alias for model in SHIPPED_MODELS]
    return roles + [name for name in files if name not in roles]


def shipped_model(name: str = "default") -> ShippedModel:
    """The shipped model called ``name`` (a role or a file name); an unknown name is a
    ``HeatmarkError`` listing the known ones."""
    for model in SHIPPED_MODELS:
        if name in (model.name, model.file_name, model.alias):
            return model
    raise HeatmarkError(
        f"no shipped model named {name!r}; shipped models: {', '.join(shipped_names())}"
    )


def load_shipped_model(name: str = "default") -> LandmarkModel:
    """A shipped model by name (a role such as ``default``, or a file name), in eval mode."""
    return load_landmark_model(shipped_model(name).stem)


def load_model_reference(target: str) -> LandmarkModel:
    """``shipped`` (the default), ``shipped:NAME`` (a shipped model by name) or a checkpoint
    path: how the command line and ``train.distill.teacher`` name a model."""
    if target == "shipped" or target.startswith("shipped:"):
        return load_shipped_model(target.partition(":")[2] or "default")
    return load_landmark_model(target)


def package(
    checkpoint: str | Path,
    model: ShippedModel = DEFAULT,
    stem: Path | None = None,
    decoding: Decoding = Decoding.GET_BC,
) -> Path:
    """Write ``checkpoint``'s weights as the shipped ``model`` (at ``stem``, default the
    package's file) with a lean sidecar, and export its ONNX file next to it.

    Shipped models decode with the windowed barycenter (GET_BC): on the validation hold-out
    it gives the 1-stack hourglass 3.60% NME against 3.84% with GET_MAX (the same ranking as
    the CPU recipe's).
    """
    stem = model.stem if stem is None else stem
    source = checkpoint_stem(checkpoint)
    loaded = load_landmark_model(source)
    meta = read_metadata(source)
    keep = ("config", "scheme", "num_points", "epoch", "metrics", "train_images", "val_images")
    metadata = {key: meta[key] for key in keep if key in meta}
    metadata["description"] = replace(loaded.description, decoding=decoding).to_dict()
    metadata["terms"] = meta.get("terms", TERMS_300W)
    metadata["recipe"] = model.recipe
    save_checkpoint(stem, loaded.network, metadata)
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


USAGE = """usage: python -m heatmark.models.shipped RUN_DIR/last [--as NAME] [STEM]
         package a run as the shipped model NAME (default: default) + export its ONNX file
       python -m heatmark.models.shipped --onnx [NAME]
         re-export the ONNX file of the shipped model NAME (default: every one)"""


def _packaging_arguments(argv: list[str]) -> tuple[str, list[str]] | None:
    """(role, [RUN_DIR/last, optional STEM]) of a packaging command line, None if it is not one."""
    args, role = list(argv), "default"
    if "--as" in args:
        at = args.index("--as")
        if at + 1 == len(args):
            return None
        role = args[at + 1]
        del args[at : at + 2]
    if len(args) not in (1, 2) or any(a.startswith("-") for a in args):
        return None
    return role, args


def main(argv: list[str]) -> int:
    onnx = argv[:1] == ["--onnx"] and len(argv) <= 2
    packaging = None if onnx else _packaging_arguments(argv)
    if not onnx and packaging is None:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        if packaging is None:
            models = [shipped_model(argv[1])] if len(argv) == 2 else list(SHIPPED_MODELS)
            for model in models:
                if model.stem.with_suffix(".safetensors").is_file():
                    print(export_shipped_onnx(model.stem, model.onnx))
        else:
            role, args = packaging
            target = Path(args[1]) if len(args) == 2 else None
            print(package(args[0], shipped_model(role), target))
    except HeatmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
