"""The precision campaign: which change buys the most precision per CPU-hour (issue 20).

Each ablation is the shipped model's recipe (the bundled ``cpu_shipped_300w``) with one change,
trained for the same number of epochs on one CPU thread. The 87-face hold-out of the grid
(``heatmark.reproduce.holdout``) is never touched: ablations train on the other 1,925 faces and
are scored on a seeded 10% of those (the *ablation split*: ``val_fraction 0.1`` of every subset,
seed 0, 192 faces), so the hold-out stays an honest score for the finalists only.

Every finished run is scored on its ``last`` checkpoint (``best`` is picked on the same faces),
with the moving average of the weights where the run keeps one, under GET_MAX, GET_BC and GET_BC
with flip test-time augmentation; with its CPU time (the training process's user + system
seconds) and the network's milliseconds per face (batch 1, one thread). Records go to
``docs/precision/records/NAME.json`` and the table to ``docs/precision.md``.

    python -m heatmark.reproduce.precision run      # train what is missing (resumes), score
    python -m heatmark.reproduce.precision table    # rewrite docs/precision.md from the records
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from heatmark.codec import Decoding
from heatmark.data.dataset import LandmarkDataset
from heatmark.data.readers.auto import load_dataset
from heatmark.data.sample import Sample
from heatmark.data.split import holdout_split
from heatmark.evaluate.evaluation import evaluate_samples
from heatmark.evaluate.inference import predict_dataset
from heatmark.evaluate.metrics import Normaliser
from heatmark.models.checkpoint import (
    EMA_WEIGHTS,
    has_ema,
    load_landmark_model,
    load_weights,
    read_metadata,
)
from heatmark.models.landmark_model import LandmarkModel
from heatmark.reproduce.grid import format_value
from heatmark.reproduce.holdout import materialise_holdout
from heatmark.robustness.perturbations import apply_protocol

BASE_RECIPE = "cpu_shipped_300w"
"""The bundled recipe every ablation starts from (``heatmark recipes show cpu_shipped_300w``)."""
SPLIT_FRACTION = 0.1
SPLIT_SEED = 0
"""The ablation split: this seeded fraction of all the hold-out tree's training faces."""
RECORDS = Path("docs/precision/records")
PAGE = Path("docs/precision.md")
THRESHOLD = 0.1
COMMON: tuple[tuple[str, Any], ...] = (
    ("data.val_subset", None),
    ("data.val_fraction", SPLIT_FRACTION),
    ("seed", SPLIT_SEED),
    ("data.workers", 0),
    ("train.threads", 1),
    ("train.progress", False),
    ("train.val_every", 5),
    ("train.max_minutes", None),
)


@dataclass(frozen=True)
class Ablation:
    """The base recipe with ``overrides``, trained ``epochs`` epochs; compared with
    ``compare_to`` (the baseline of the same length)."""

    name: str
    label: str
    overrides: tuple[tuple[str, Any], ...] = ()
    epochs: int = 30
    compare_to: str | None = "base-e30"


_FINE = (("model.output_stride", 2), ("codec.heatmap_size", 64), ("codec.sigma", 2.0))
ABLATIONS: tuple[Ablation, ...] = (
    Ablation("base-e15", "baseline, 15 epochs", epochs=15, compare_to=None),
    Ablation("base-e30", "baseline: the shipped recipe, 30 epochs", compare_to=None),
    Ablation("fine64-e30", "64x64 maps from 128 px (fine heads), same target width", _FINE),
    Ablation(
        "ema-e30", "moving average of the weights (decay 0.999)", (("train.ema_decay", 0.999),)
    ),
    Ablation("stacks2-e30", "2 stacks", (("model.stacks", 2),)),
    Ablation(
        "augmild-e30",
        "milder augmentation (rotation 30, occlusion/blur/noise halved)",
        (
            ("augment.rotation_deg", 30),
            ("augment.occlusion_probability", 0.15),
            ("augment.blur_probability", 0.1),
            ("augment.noise_probability", 0.1),
        ),
    ),
    Ablation("base-e60", "baseline, 60 epochs", epochs=60, compare_to=None),
    Ablation("stacks2-e60", "2 stacks, 60 epochs", (("model.stacks", 2),), 60, "base-e60"),
    Ablation("w96-e30", "width 96", (("model.width", 96),)),
    Ablation(
        "in256-e30",
        "256 px input, 64x64 maps, same target width",
        (("data.input_size", 256), ("codec.heatmap_size", 64), ("codec.sigma", 2.0)),
    ),
)


def ablation_named(name: str) -> Ablation:
    for ablation in ABLATIONS:
        if ablation.name == name:
            return ablation
    known = ", ".join(a.name for a in ABLATIONS)
    raise SystemExit(f"no ablation {name!r}; known: {known}")


def train_command(ablation: Ablation, train_folder: Path, runs: Path) -> list[str]:
    """The ``heatmark train`` command of one ablation: a resume when its run saved a checkpoint,
    else a fresh start (over the folder of a run stopped in its first epoch)."""
    run_dir = runs / ablation.name
    if (run_dir / "last.json").is_file():
        return [sys.executable, "-m", "heatmark.cli", "train", "--resume", str(run_dir)]
    settings: list[tuple[str, Any]] = [
        ("name", ablation.name),
        ("output", str(runs)),
        ("data.train", str(train_folder)),
        *COMMON,
        ("schedule.epochs", ablation.epochs),
        *ablation.overrides,
    ]
    command = [sys.executable, "-m", "heatmark.cli", "train", "-c", BASE_RECIPE]
    if run_dir.is_dir():
        command.append("--overwrite")
    for key, value in settings:
        command += ["--set", f"{key}={format_value(value)}"]
    return command


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


CPU_SECONDS = "cpu_seconds.json"
"""In the run folder: the CPU seconds of all its training calls so far (resumes add up)."""


def train(ablation: Ablation, train_folder: Path, runs: Path) -> float:
    """Train (or resume) one ablation; the CPU seconds of its training so far (kept in the run
    folder, also when the call fails or is interrupted)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    ledger = runs / ablation.name / CPU_SECONDS
    resumed = (runs / ablation.name / "last.json").is_file()
    total = json.loads(ledger.read_text()) if resumed and ledger.is_file() else 0.0
    before = _cpu_seconds()
    try:
        subprocess.run(train_command(ablation, train_folder, runs), check=True, env=env)
    finally:
        total += _cpu_seconds() - before
        if ledger.parent.is_dir():
            ledger.write_text(json.dumps(round(total, 1)))
    return total


def finished(ablation: Ablation, run_dir: Path) -> bool:
    """Whether the run's ``last`` checkpoint holds its final epoch."""
    if not (run_dir / "last.json").is_file():
        return False
    return read_metadata(run_dir / "last").get("epoch") == ablation.epochs - 1


def scored_model(run_dir: Path) -> LandmarkModel:
    """The run's ``last`` checkpoint: its moving average of the weights where it keeps one."""
    stem = run_dir / "last"
    model = load_landmark_model(stem)
    meta = read_metadata(stem)
    if has_ema(stem, meta):
        load_weights(stem, model.network, meta, role=EMA_WEIGHTS)
    return model.eval()


@torch.no_grad()
def network_milliseconds(model: LandmarkModel, repeats: int = 20) -> float:
    """Median milliseconds of one forward pass + decoding at batch 1 on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        size = model.description.input_size
        image = torch.zeros(1, 3, size, size, dtype=torch.uint8)
        for _ in range(3):
            model(image)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(image)
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return 1000 * sorted(times)[len(times) // 2]


OCCLUSION = "occlusion-large"
"""The robustness protocol every ablation is also scored under (GET_BC): a precision lever must
not buy clean-face precision with the robustness the shipped model has."""


def occluded(samples: Sequence[Sample]) -> list[Sample]:
    """``samples`` under the ``OCCLUSION`` protocol, each seeded by its subset and file name (the
    same occluders wherever the dataset folder lies)."""
    return [
        dataclasses.replace(
            s,
            image=apply_protocol(
                OCCLUSION, s.load_image(), s.points, s.scheme, f"{s.subset}/{Path(s.source).name}"
            ),
        )
        for s in samples
    ]


def score(run_dir: Path, samples: Sequence[Sample]) -> dict[str, Any]:
    """NME, FR_L, FR_I and AUC (at 0.1 inter-ocular) under each decoding, with flip, and under
    ``OCCLUSION``."""
    model = scored_model(run_dir)
    results: dict[str, Any] = {}
    for key, decoding, flip, faces in (
        ("max", Decoding.GET_MAX, False, list(samples)),
        ("bc", Decoding.GET_BC, False, list(samples)),
        ("bc+flip", Decoding.GET_BC, True, list(samples)),
        (OCCLUSION, Decoding.GET_BC, False, occluded(samples)),
    ):
        described = LandmarkModel(model.network, replace(model.description, decoding=decoding))
        d = described.description
        dataset = LandmarkDataset(faces, d.input_size, None, d.enlarge)
        pred, _ = predict_dataset(described, dataset, batch_size=16, flip=flip)
        evaluation = evaluate_samples(pred, faces, Normaliser.INTER_OCULAR, THRESHOLD)
        results[key] = {
            "nme": evaluation.nme,
            "fr_landmarks": evaluation.fr_landmarks,
            "fr_images": evaluation.fr_images,
            "auc_images": evaluation.auc_images,
        }
    results["ms_per_face"] = network_milliseconds(model)
    results["parameters"] = sum(p.numel() for p in model.network.parameters())
    return results


def ablation_samples(train_folder: Path) -> list[Any]:
    """The ablation split: what every ablation's trainer holds out (same rule and seed)."""
    samples = load_dataset(train_folder)
    return holdout_split(samples, SPLIT_FRACTION, seed=SPLIT_SEED, subset=None)[1]


def record(ablation: Ablation, run_dir: Path, cpu_seconds: float | None, samples) -> dict:
    meta = read_metadata(run_dir / "last")
    entry = {
        "name": ablation.name,
        "label": ablation.label,
        "overrides": {key: value for key, value in ablation.overrides},
        "epochs": ablation.epochs,
        "compare_to": ablation.compare_to,
        "epoch_scored": meta["epoch"],
        "validation_faces": len(samples),
        "train_cpu_seconds": cpu_seconds,
        **score(run_dir, samples),
    }
    RECORDS.mkdir(parents=True, exist_ok=True)
    (RECORDS / f"{ablation.name}.json").write_text(json.dumps(entry, indent=2) + "\n")
    return entry


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}"


def write_table(records: Path = RECORDS, page: Path = PAGE) -> str:
    """The campaign's table (markdown) from the records, written to ``page``."""
    entries = {path.stem: json.loads(path.read_text()) for path in sorted(records.glob("*.json"))}
    lines = [
        "# Precision campaign: ablations on the ablation split",
        "",
        "Written by `python -m heatmark.reproduce.precision table` from "
        "`docs/precision/records/`. Every row is the shipped recipe "
        "(`cpu_shipped_300w`) with one change, trained on one CPU thread on the "
        "1,925 faces outside the 87-face hold-out and scored (last epoch) on a seeded 10% of "
        f"them ({SPLIT_FRACTION:g}, seed {SPLIT_SEED}: 192 faces). NME and FR_L@0.1 in % of "
        "the inter-ocular distance; gain: GET_BC NME of the baseline of the same length minus "
        f"the row's; NME occl.: GET_BC under the robustness protocol {OCCLUSION} on the same "
        "faces; CPU h: the training process's CPU time; ms: network + decoding per face, "
        "batch 1, one thread, measured while other runs shared the two cores (compare within "
        "the column only). Resume the campaign with `python -m heatmark.reproduce.precision run` "
        "(finished ablations are skipped by their records, a stopped one resumes).",
        "",
        "| ablation | epochs | NME max | NME bc | NME bc+flip | FR_L bc | gain | NME occl. | CPU h "
        "| ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ablation in ABLATIONS:
        entry = entries.get(ablation.name)
        if entry is None:
            lines.append(f"| {ablation.label} | {ablation.epochs} | not run yet | | | | | | | |")
            continue
        base = entries.get(ablation.compare_to or "")
        gain = f"{100 * (base['bc']['nme'] - entry['bc']['nme']):+.2f}" if base is not None else ""
        cpu = entry.get("train_cpu_seconds")
        lines.append(
            f"| {ablation.label} | {ablation.epochs} | {_percent(entry['max']['nme'])} "
            f"| {_percent(entry['bc']['nme'])} | {_percent(entry['bc+flip']['nme'])} "
            f"| {_percent(entry['bc']['fr_landmarks'])} | {gain} "
            f"| {_percent((entry.get(OCCLUSION) or {}).get('nme'))} "
            f"| {'—' if cpu is None else f'{cpu / 3600:.2f}'} | {entry['ms_per_face']:.1f} |"
        )
    text = "\n".join(lines) + "\n"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text)
    return text


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m heatmark.reproduce.precision")
    parser.add_argument("action", choices=("run", "score", "table"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data/300w"))
    parser.add_argument("--runs", type=Path, default=Path("runs/precision"))
    parser.add_argument("--only", help="comma-separated ablation names")
    args = parser.parse_args(argv)
    if args.action == "table":
        print(write_table())
        return
    train_folder, _ = materialise_holdout(args.data, args.runs / "holdout")
    chosen = [ablation_named(n) for n in args.only.split(",")] if args.only else list(ABLATIONS)
    samples = ablation_samples(train_folder)
    for ablation in chosen:
        run_dir = args.runs / ablation.name
        done = (RECORDS / f"{ablation.name}.json").is_file()
        if done and args.action == "run":
            continue
        if args.action == "run" and not finished(ablation, run_dir):
            train(ablation, train_folder, args.runs)
        if not finished(ablation, run_dir):
            continue
        ledger = run_dir / CPU_SECONDS
        cpu = json.loads(ledger.read_text()) if ledger.is_file() else None
        entry = record(ablation, run_dir, cpu, samples)
        print(f"{ablation.name}: NME bc {100 * entry['bc']['nme']:.2f}%", flush=True)
    write_table()


if __name__ == "__main__":
    main()
