"""Writing a ``SuiteResult``: report.md, metrics.json and figures, in one folder.

``write_report(result, out_dir)`` writes

- ``report.md``: the models (decoding stated per model), the box protocol, the sample counts,
  an NME overview (models x protocols) and, per protocol, the Wasserstein paper's table (NME,
  FR_I@0.1, FR_L@0.1 / 0.15 / 0.2, AUC@0.1) with the models side by side;
- ``metrics.json``: the same numbers as fractions (``SuiteResult.to_dict``);
- ``ced/<protocol>.png``: landmark-wise CED curves, all models overlaid;
- ``failure_maps.png``: per model (rows) and protocol (columns), each landmark's FR_L@0.1 drawn
  at its place on the mean ground-truth face, coloured by failure rate (one colour bar);
- ``examples/<protocol>.png``: a few perturbed samples (rows), one tile per model (columns)
  with its predictions (red) over the ground truth (green).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from heatmark.evaluate.metrics import ced
from heatmark.evaluate.visualize import draw_landmarks
from heatmark.robustness.suite import (
    FR_L_THRESHOLDS,
    SuiteResult,
)

CED_MAX = 0.2
"""The CED plots span landmark errors 0 .. 0.2 of the normalising distance."""
NORMALISER_WORDS = {
    "inter-ocular": "inter-ocular distance (outer eye corners)",
    "inter-pupil": "inter-pupil distance (eye centres)",
    "box": "face box size (square root of its area)",
    "box-diagonal": "face box diagonal",
    "torso": "torso size",
}
TILE = 224
COLUMNS = (
    ("model", "decoding", "images", "NME %", "FR_I@0.1 %")
    + tuple(f"FR_L@{t:g} %" for t in FR_L_THRESHOLDS)
    + ("AUC@0.1",)
)


def file_name(protocol: str) -> str:
    """A safe file name for a protocol name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", protocol)


def _pct(value: float) -> str:
    return f"{100 * value:.2f}" if np.isfinite(value) else "-"


def protocol_table(result: SuiteResult, protocol: str) -> str:
    """The markdown table of one protocol: one row per model."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|---" * len(COLUMNS) + "|"]
    for model in result.models:
        c = result.cell(model, protocol)
        images = str(c.errors.shape[0])
        if c.detection_rate is not None:
            images += f" ({100 * c.detection_rate:.0f}% detected)"
        row = [
            model,
            c.decoding,
            images,
            _pct(c.nme),
            _pct(c.fr_images),
            *(_pct(c.fr_landmarks[t]) for t in FR_L_THRESHOLDS),
            f"{c.auc_images:.4f}",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def overview_table(result: SuiteResult) -> str:
    """NME % (FR_L@0.1 %) of every model (columns) on every protocol (rows)."""
    rates = result.detection_rates
    found = [f"{result.detector} found"] if rates else []
    lines = [
        "| " + " | ".join(["protocol", "images", *found, *result.models]) + " |",
        "|---" * (len(result.models) + 2 + len(found)) + "|",
    ]
    for run in result.protocols:
        cells = [result.cell(model, run.name) for model in result.models]
        values = [f"{_pct(c.nme)} ({_pct(c.fr_landmarks[0.1])})" for c in cells]
        if rates:
            rate = rates.get(run.name)
            values.insert(0, "-" if rate is None else f"{100 * rate:.1f}%")
        lines.append(f"| {run.name} | {run.indices.size} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def report_markdown(result: SuiteResult) -> str:
    n = len(result.samples)
    normaliser = NORMALISER_WORDS.get(result.normaliser, result.normaliser)
    parts = [
        "# heatmark robustness report",
        "",
        f"- samples: {n} ({result.scheme})",
        *([f"- cross-dataset protocol: {result.cross_dataset}"] if result.cross_dataset else []),
        f"- box protocol: {result.box_description}",
        f"- errors normalised by the {normaliser}; "
        "NME, FR and CED in percent of it; AUC@0.1 of the image NMEs",
        f"- run time: {result.seconds:.1f} s",
        "",
        "## Models",
        "",
        "| model | scheme | landmarks scored | decoding | source |",
        "|---|---|---|---|---|",
        *(
            f"| {m} | {result.model_schemes.get(m, result.scheme)} | {_scored(result, m)} | "
            f"{result.decodings[m]} | {result.sources[m]} |"
            for m in result.models
        ),
        "",
        "## Overview: NME % (FR_L@0.1 %)",
        "",
        overview_table(result),
        "",
    ]
    for run in result.protocols:
        parts += [f"## {run.name}", ""]
        facts = [f"{run.indices.size} of {n} images"]
        if run.note:
            facts.append(run.note)
        if run.covered is not None:
            facts.append(f"mean fraction of landmarks covered: {100 * run.covered:.1f}%")
        parts += ["; ".join(facts) + ".", "", protocol_table(result, run.name), ""]
        stem = file_name(run.name)
        parts += [
            f"![CED {run.name}](ced/{stem}.png)",
            "",
            f"![examples {run.name}](examples/{stem}.png)",
            "",
        ]
    if result.skipped:
        parts += ["## Skipped protocols", ""]
        parts += [f"- {name}: {why}" for name, why in result.skipped.items()]
        parts.append("")
    parts += [
        "## Landmark-wise failure rates",
        "",
        "FR_L@0.1 of each landmark (rows: models, columns: protocols), drawn on the mean "
        "ground-truth face.",
        "",
        "![failure maps](failure_maps.png)",
        "",
    ]
    return "\n".join(parts)


def _scored(result: SuiteResult, model: str) -> str:
    """How many of the data's landmarks the model is scored on."""
    total = result.samples[0].scheme.num_points
    cells = [c for (m, _), c in result.cells.items() if m == model]
    if not cells or cells[0].scored is None:
        return f"all {total}"
    return f"{int(cells[0].scored.sum())} of {total} (common points)"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_landmark_ced(result: SuiteResult, protocol: str, path: Path) -> None:
    """Landmark-wise CED curves of every model on ``protocol``."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(5.5, 4.2), dpi=120)
    for model in result.models:
        c = result.cell(model, protocol)
        thresholds, fractions = ced(c.errors, CED_MAX)
        axis.plot(100 * thresholds, fractions, label=f"{model} ({c.decoding})")
    axis.set_xlim(0, 100 * CED_MAX)
    axis.set_ylim(0, 1)
    axis.set_xlabel(f"landmark error (% of {result.normaliser} distance)")
    axis.set_ylabel("fraction of landmarks")
    axis.set_title(f"Landmark-wise CED: {protocol}")
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def mean_face(result: SuiteResult) -> np.ndarray:
    """(K, 2) mean ground-truth shape: each face centred on its points' mean and scaled to
    unit box size (square root of its points' box area), so faces of any size and place average
    whatever landmarks the markup has."""
    gt = np.stack([s.points for s in result.samples])
    extent = gt.max(axis=1) - gt.min(axis=1)
    scale = np.sqrt(np.maximum(extent[:, 0] * extent[:, 1], 1e-12))
    centred = (gt - gt.mean(axis=1, keepdims=True)) / scale[:, None, None]
    return centred.mean(axis=0)


def plot_failure_maps(result: SuiteResult, path: Path) -> None:
    """Per model x protocol, each landmark's FR_L@0.1 on the mean face (shared colour bar)."""
    plt = _pyplot()
    face = mean_face(result)
    rows, cols = len(result.models), len(result.protocols)
    figure, axes = plt.subplots(
        rows, cols, figsize=(2.6 * cols + 1.0, 2.8 * rows), dpi=100, squeeze=False
    )
    scatter = None
    for r, model in enumerate(result.models):
        for c, run in enumerate(result.protocols):
            axis = axes[r][c]
            rates = result.cell(model, run.name).per_landmark_failure(result.threshold)
            scatter = axis.scatter(
                face[:, 0],
                face[:, 1],
                c=rates,
                cmap="inferno_r",
                vmin=0.0,
                vmax=1.0,
                s=18,
                edgecolors="0.3",
                linewidths=0.3,
            )
            axis.set_aspect("equal")
            axis.invert_yaxis()
            axis.set_xticks([])
            axis.set_yticks([])
            if r == 0:
                axis.set_title(run.name, fontsize=9)
            if c == 0:
                axis.set_ylabel(model, fontsize=9)
    if scatter is not None:
        bar = figure.colorbar(scatter, ax=axes.ravel().tolist(), shrink=0.8)
        bar.set_label(f"FR_L@{result.threshold:g} per landmark")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def _face_tile(
    image: np.ndarray, gt: np.ndarray, pred: np.ndarray, label: str, tile: int = TILE
) -> np.ndarray:
    """A square tile around the face (1.6 x its landmark box), points drawn, labelled."""
    low, high = gt.min(axis=0), gt.max(axis=0)
    centre = (low + high) / 2
    side = 1.6 * float(max(high - low)) + 1.0
    scale = tile / side
    matrix = np.array(
        [[scale, 0.0, tile / 2 - scale * centre[0]], [0.0, scale, tile / 2 - scale * centre[1]]]
    )
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    crop = cv2.warpAffine(
        np.ascontiguousarray(image),
        matrix,
        (tile, tile),
        flags=cv2.INTER_AREA,
        borderMode=cv2.BORDER_CONSTANT,
    )

    def move(points: np.ndarray) -> np.ndarray:
        return points @ matrix[:, :2].T + matrix[:, 2]

    drawn = draw_landmarks(crop, move(pred), move(gt), radius=1)
    cv2.rectangle(drawn, (0, 0), (tile, 16), (0, 0, 0), -1)
    cv2.putText(drawn, label[:32], (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
    return drawn


def example_grid(result: SuiteResult, protocol: str) -> np.ndarray | None:
    """RGB grid: one row per kept example of ``protocol``, one column per model."""
    run = next(r for r in result.protocols if r.name == protocol)
    if not run.examples:
        return None
    position = {int(i): p for p, i in enumerate(run.indices)}
    rows = []
    for index, image in run.examples:
        gt = result.samples[index].points
        tiles = []
        for model in result.models:
            cell = result.cell(model, protocol)
            pred = cell.points[position[index]]
            if cell.scored is not None:
                pred = pred[cell.scored]  # only the points with a twin in the model's scheme
            nme = cell.nme_images[position[index]]
            label = f"{model} {100 * nme:.1f}%" if np.isfinite(nme) else f"{model} missed"
            tiles.append(_face_tile(image, gt, pred, label))
        rows.append(np.hstack(tiles))
    return np.vstack(rows)


def write_report(result: SuiteResult, out_dir: Path) -> Path:
    """Write report.md, metrics.json and the figures into ``out_dir``; returns report.md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    for run in result.protocols:
        stem = file_name(run.name)
        plot_landmark_ced(result, run.name, out / "ced" / f"{stem}.png")
        grid = example_grid(result, run.name)
        if grid is not None:
            (out / "examples").mkdir(exist_ok=True)
            cv2.imwrite(
                str(out / "examples" / f"{stem}.png"), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR)
            )
    if result.protocols:
        plot_failure_maps(result, out / "failure_maps.png")
    report = out / "report.md"
    report.write_text(report_markdown(result))
    return report
