"""``heatmark demo``: train a small model for a few minutes on CPU and write a report.

With no data it trains on synthetic faces that heatmark renders itself (nothing to download);
with ``--data`` (e.g. ``../shared/data/300w``) it does the same on real faces with a seeded
validation hold-out. The report shows that the model learned: NME before and after training,
a CED plot of both, and a grid of predictions on validation faces.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from heatmark.data.dataset import LandmarkDataset
from heatmark.data.readers.auto import load_dataset
from heatmark.data.split import holdout_split
from heatmark.data.synthetic import synthetic_faces
from heatmark.evaluate.evaluation import Evaluation, evaluate_samples
from heatmark.evaluate.inference import predict_dataset
from heatmark.evaluate.report import evaluation_markdown, plot_ced
from heatmark.evaluate.visualize import landmark_grid
from heatmark.train.config import Config, config_from_dict, config_to_yaml
from heatmark.train.trainer import Trainer

DEMO_CONFIG: dict = {
    "name": "demo",
    "data": {"input_size": 64, "workers": 1, "enlarge": 1.25},
    "codec": {"heatmap_size": 16, "sigma": 1.0},
    "model": {"architecture": "hourglass", "stacks": 1, "width": 64, "depth": 3, "coordconv": True},
    "loss": {"name": "awing"},
    "optimizer": {"name": "adam", "lr": 2e-3, "weight_decay": 0.0},
    "schedule": {"kind": "cosine", "warmup_epochs": 1},
    "train": {"batch_size": 32, "val_every": 1000, "threads": None, "log_every": 10},
}


def demo_config(out: Path, epochs: int, minutes: float, real: bool) -> Config:
    raw = json.loads(json.dumps(DEMO_CONFIG))
    raw["output"] = str(out)
    raw["schedule"]["epochs"] = epochs
    raw["train"]["max_minutes"] = minutes
    if real:
        raw["data"]["input_size"] = 128
        raw["codec"]["heatmap_size"] = 32
        raw["model"]["depth"] = 4
        raw["train"]["batch_size"] = 16
    return config_from_dict(raw, "demo")


def _samples(data: Path | None, count: int, size: int) -> tuple[list, list]:
    if data is None:
        return synthetic_faces(count, seed=0, size=size), synthetic_faces(
            max(count // 8, 64), seed=10_000, size=size
        )
    samples = load_dataset(data)
    subset = "helen/trainset" if any(s.subset == "helen/trainset" for s in samples) else None
    return holdout_split(samples, 0.1, seed=0, subset=subset)


def _measure_speed(trainer: Trainer, seconds: float = 6.0) -> float:
    """Training images per second of this model on this machine (a short probe, discarded)."""
    state = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    optimizer_state = trainer.optimizer.state_dict()
    iterator = iter(trainer.loader)
    done, start = 0, None
    while True:
        batch = next(iterator, None)
        if batch is None:
            break
        trainer.train_step(batch, 0, 0)
        if start is None:
            start = time.monotonic()  # skip the first (warm-up) step
            continue
        done += len(batch["image"])
        if time.monotonic() - start > seconds:
            break
    trainer.model.load_state_dict(state)
    trainer.optimizer.load_state_dict(optimizer_state)
    return done / max(time.monotonic() - (start or time.monotonic()), 1e-6)


def _evaluate(trainer: Trainer, config: Config) -> tuple[Evaluation, np.ndarray]:
    pred, _ = predict_dataset(trainer.landmark_model, trainer.val_set, batch_size=32)
    evaluation = evaluate_samples(
        pred, trainer.val_samples, config.eval.normaliser, config.eval.threshold
    )
    return evaluation, pred


def _grid(dataset: LandmarkDataset, pred: np.ndarray, count: int = 16) -> np.ndarray:
    images, preds, gts = [], [], []
    for i in range(min(count, len(dataset))):
        item = dataset[i]
        matrix = item["matrix"].numpy()
        image = item["image"].numpy().transpose(1, 2, 0)
        to_crop = lambda p, m=matrix: p @ m[:2, :2].T + m[:2, 2]  # noqa: E731
        images.append(image)
        preds.append(to_crop(pred[i]))
        gts.append(to_crop(dataset.samples[i].points))
    return landmark_grid(images, preds, gts, columns=4)


def run_demo(
    data: Path | None, minutes: float, out: Path, console: Console, faces: int = 4000
) -> dict:
    """Train for about ``minutes`` and write the report to ``out``; returns the summary.

    ``faces``: how many synthetic training faces to render when no ``data`` is given.
    """
    real = data is not None
    provisional = demo_config(out, 1, minutes, real)
    count = faces if not real else 0
    samples = _samples(data, count, provisional.data.input_size)
    source = str(data) if real else "synthetic faces (rendered by heatmark)"
    console.print(
        f"[bold]heatmark demo[/]: {len(samples[0])} training / {len(samples[1])} "
        f"validation images from {source}"
    )
    trainer = Trainer(provisional, samples, console)
    speed = _measure_speed(trainer)
    epochs = max(1, int(minutes * 60 * speed * 0.9 / len(trainer.train_set)))
    config = demo_config(out, epochs, minutes * 1.15, real)
    console.print(f"measured {speed:.1f} training images/s -> {epochs} epochs in ~{minutes:g} min")
    trainer = Trainer(config, samples, console, overwrite=True)  # each demo starts afresh
    before, _ = _evaluate(trainer, config)
    started = time.monotonic()
    trainer.fit()
    elapsed = time.monotonic() - started
    after, pred = _evaluate(trainer, config)

    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(config_to_yaml(config))
    plot_ced(
        {"before training": before.nme_images, "after training": after.nme_images},
        out / "ced.png",
        max_error=0.5,
        title="Validation CED",
    )
    grid = _grid(trainer.val_set, pred)
    cv2.imwrite(str(out / "predictions.png"), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    summary = {
        "data": source,
        "train_images": len(samples[0]),
        "val_images": len(samples[1]),
        "epochs": epochs,
        "train_seconds": round(elapsed, 1),
        "nme_before": before.nme,
        "nme_after": after.nme,
        "before": before.to_dict(),
        "after": after.to_dict(),
    }
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    (out / "report.md").write_text(
        f"# heatmark demo\n\nData: {source}; {len(samples[0])} training / {len(samples[1])} "
        f"validation images; {epochs} epochs in {elapsed / 60:.1f} min on "
        f"{torch.get_num_threads()} CPU threads.\n\n"
        f"## Before training\n\n{evaluation_markdown(before)}\n"
        f"## After training\n\n{evaluation_markdown(after)}\n"
        "![CED](ced.png)\n\n![predictions (red) and ground truth (green)](predictions.png)\n"
    )
    table = Table(title="heatmark demo: validation")
    for column in ("", "NME %", "FR_I@0.1 %", "FR_L@0.1 %", "AUC@0.1"):
        table.add_column(column, justify="right")
    for name, ev in (("before training", before), ("after training", after)):
        table.add_row(
            name,
            f"{100 * ev.nme:.2f}",
            f"{100 * ev.fr_images:.2f}",
            f"{100 * ev.fr_landmarks:.2f}",
            f"{ev.auc_images:.4f}",
        )
    Console().print(table)
    console.print(
        f"NME {100 * before.nme:.2f}% -> {100 * after.nme:.2f}% "
        f"({before.nme / max(after.nme, 1e-9):.1f}x lower); report in {out}/"
    )
    return summary
