"""Make the documentation's pictures in docs/images/ from the shipped model, with nothing drawn
by hand. Run from the repository root (36 s on 2 CPU cores):

    .venv/bin/python docs/make_figures.py [--data ../shared/data/300w]

- ``demo-landmarks.jpg``: the shipped model on ``heatmark demo``'s photo (matplotlib's
  public-domain sample portrait), drawn as ``heatmark predict --draw`` draws;
- ``ced-shipped.png``: ``heatmark eval --plot`` of the shipped model on the 87-face hold-out
  (seed 0, 10% of helen/trainset: the one ``heatmark reproduce`` and ``--split val`` use);
- ``failure-map.png``: the robustness report's landmark failure map (FR_L@0.1 of each landmark
  on the mean face) of the shipped model on that hold-out, clean and occluded;
- ``perturbations.png``: two hold-out faces under the robustness protocols, the shipped model's
  points (red) over the ground truth (green), each tile labelled with its image NME.

The ablation curves are not made here: ``heatmark reproduce`` writes them to docs/results/.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

import heatmark
from heatmark.data.readers.auto import load_dataset
from heatmark.data.sample import read_image
from heatmark.data.split import run_holdout
from heatmark.models.shipped import SHIPPED_STEM, load_shipped_model
from heatmark.predict.draw import draw_faces
from heatmark.predict.showcase import sample_portrait
from heatmark.reproduce.holdout import SPLIT_SEED, VAL_FRACTION, VAL_SUBSET
from heatmark.robustness.report import TILE, example_grid, plot_failure_maps
from heatmark.robustness.suite import ModelEntry, SuiteResult, run_suite

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
FAILURE_MAP_PROTOCOLS = ("clean", "occlusion-medium", "occlusion-large", "lowres-large")
EXAMPLE_PROTOCOLS = (
    "clean",
    "occlusion-medium",
    "occlusion-large",
    "blur-random-large",
    "noise-large",
    "lowlight-large",
    "lowres-large",
)
EXAMPLE_FACES = 2
PHOTO_SIDE = 360


def _write_rgb(path: Path, rgb: np.ndarray, *params: int) -> None:
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), list(params)):
        raise OSError(f"could not write {path}")
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size // 1024} KB")


def demo_photo(out: Path) -> None:
    """The shipped model on the demo portrait: drawn on the full photo, then the square around
    the face (2.2 times its box, inside the photo) scaled to a small JPEG."""
    predictor = heatmark.Predictor()
    photo = read_image(sample_portrait())
    faces = predictor.predict(photo)
    drawn = draw_faces(photo, faces)
    height, width = drawn.shape[:2]
    x0, y0, x1, y1 = np.asarray(faces[0].box, dtype=float)
    side = min(2.2 * max(x1 - x0, y1 - y0), width, height)
    left = int(np.clip((x0 + x1 - side) / 2, 0, width - side))
    top = int(np.clip((y0 + y1 - side) / 2, 0, height - side))
    crop = drawn[top : top + int(side), left : left + int(side)]
    small = cv2.resize(crop, (PHOTO_SIDE, PHOTO_SIDE), interpolation=cv2.INTER_AREA)
    _write_rgb(out, small, cv2.IMWRITE_JPEG_QUALITY, 85)


def ced_plot(data: Path, out: Path) -> None:
    """``heatmark eval --plot``: the command the docs state, run as it is."""
    command = [
        *(sys.executable, "-m", "heatmark.cli", "eval"),
        *("--checkpoint", str(SHIPPED_STEM.relative_to(ROOT)), "--gt", str(data)),
        *("--split", "val", "--plot", str(out.relative_to(ROOT))),
    ]
    print("$ heatmark " + " ".join(command[3:]), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)
    print(f"{out.relative_to(ROOT)}: {out.stat().st_size // 1024} KB")


def robustness(data: Path) -> SuiteResult:
    """The shipped model on the hold-out under the protocols both pictures need."""
    samples = load_dataset(data)
    holdout = run_holdout(samples, VAL_FRACTION, SPLIT_SEED, VAL_SUBSET)[1]
    print(f"hold-out: {len(holdout)} faces", flush=True)
    protocols = list(dict.fromkeys(EXAMPLE_PROTOCOLS + FAILURE_MAP_PROTOCOLS))
    entry = ModelEntry("shipped", model=load_shipped_model())
    return run_suite([entry], holdout, protocols, root=data, progress=False)


def failure_map(result: SuiteResult, out: Path) -> None:
    kept = [run for run in result.protocols if run.name in FAILURE_MAP_PROTOCOLS]
    plot_failure_maps(dataclasses.replace(result, protocols=kept), out)
    print(f"{out.relative_to(ROOT)}: {out.stat().st_size // 1024} KB")


def perturbation_examples(result: SuiteResult, out: Path) -> None:
    """One column per protocol, one row per face: the report's example tiles, captioned."""
    columns = []
    for protocol in EXAMPLE_PROTOCOLS:
        grid = example_grid(result, protocol)
        assert grid is not None, protocol
        caption = np.full((20, TILE, 3), 255, np.uint8)
        cv2.putText(caption, protocol, (4, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
        columns.append(np.vstack([caption, grid[: EXAMPLE_FACES * TILE]]))
    sheet = np.hstack(columns)
    small = cv2.resize(sheet, None, fx=0.75, fy=0.75, interpolation=cv2.INTER_AREA)
    _write_rgb(out, small, cv2.IMWRITE_JPEG_QUALITY, 85)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "300w")
    data = parser.parse_args().data.resolve()
    IMAGES.mkdir(parents=True, exist_ok=True)
    demo_photo(IMAGES / "demo-landmarks.jpg")
    ced_plot(data, IMAGES / "ced-shipped.png")
    result = robustness(data)
    failure_map(result, IMAGES / "failure-map.png")
    perturbation_examples(result, IMAGES / "perturbations.jpg")


if __name__ == "__main__":
    main()
