"""The training loop: seeded, resumable, validated, logged, and stopped on a non-finite loss."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from heatmark.codec import HeatmapCodec
from heatmark.data.dataset import EpochSampler, LandmarkDataset
from heatmark.data.sample import Sample
from heatmark.errors import HeatmarkError
from heatmark.evaluate.evaluation import Evaluation, evaluate_samples
from heatmark.evaluate.inference import predict_dataset
from heatmark.train.build import (
    build_codec,
    build_loss,
    build_model,
    build_optimizer,
    describe,
    learning_rate_factor,
)
from heatmark.train.checkpoint import (
    TERMS_300W,
    checkpoint_stem,
    load_optimizer,
    load_weights,
    read_metadata,
    save_checkpoint,
    save_optimizer,
)
from heatmark.train.config import Config, config_from_dict, config_to_yaml
from heatmark.train.data import training_samples, uses_300w
from heatmark.train.distributed import (
    DistributedContext,
    init_distributed,
    shutdown_distributed,
)
from heatmark.train.logs import RunLog, claim_run_dir


class NonFiniteLoss(HeatmarkError):
    """The loss became NaN or infinite; training stops instead of corrupting the weights."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (for third-party code on the legacy global RNG)
    torch.manual_seed(seed)


def select_device(name: str) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise HeatmarkError("train.device: cuda was asked for but no CUDA device is available")
        return torch.device("cuda")
    return torch.device("cpu")


@dataclass
class TrainResult:
    run_dir: Path
    epochs_done: int
    best_nme: float | None
    last: Evaluation | None
    losses: list[float] = field(default_factory=list)


class Trainer:
    """Builds everything from a ``Config`` and trains. ``fit()`` returns a ``TrainResult``."""

    def __init__(
        self,
        config: Config,
        samples: tuple[list[Sample], list[Sample]] | None = None,
        console: Console | None = None,
        overwrite: bool = False,
    ) -> None:
        """``overwrite``: a fresh (not resumed) run may replace an earlier run's files."""
        self.config = config
        self.overwrite = overwrite
        self.console = console or Console(stderr=True)
        self.device = select_device(config.train.device)
        self.context: DistributedContext = init_distributed(self.device.type)
        if self.device.type == "cuda" and self.context.enabled:
            self.device = torch.device("cuda", self.context.local_rank)
        if config.train.threads:
            torch.set_num_threads(config.train.threads)
        seed_everything(config.seed)

        self.train_samples, self.val_samples = samples or training_samples(config)
        self.scheme = self.train_samples[0].scheme
        self.codec: HeatmapCodec = build_codec(config.codec, config.data.input_size, self.scheme)
        model = build_model(config.model, self.scheme.num_points, self.codec.has_boundary)
        self.cuda_fast = self.device.type == "cuda"
        self.channels_last = config.train.channels_last
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.ddp_model: nn.Module = (
            DistributedDataParallel(
                model, device_ids=[self.device.index] if self.cuda_fast else None
            )
            if self.context.enabled
            else model
        )
        self.loss_fn = build_loss(config.loss).to(self.device)
        self.optimizer = build_optimizer(config.optimizer, model.parameters())
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.cuda_fast and config.train.amp)

        self.train_set = LandmarkDataset(
            self.train_samples,
            config.data.input_size,
            config.augment,
            config.data.enlarge,
            seed=config.seed,
            use_dataset_box=config.data.use_dataset_box,
        )
        self.val_set = LandmarkDataset(
            self.val_samples,
            config.data.input_size,
            None,
            config.data.enlarge,
            use_dataset_box=config.data.use_dataset_box,
        )
        self.sampler = EpochSampler(
            len(self.train_set), seed=config.seed, rank=self.context.rank, world=self.context.world
        )
        workers = config.data.workers
        self.loader = DataLoader(
            self.train_set,
            batch_size=config.train.batch_size,
            sampler=self.sampler,
            num_workers=workers,
            drop_last=len(self.sampler) >= config.train.batch_size,
            pin_memory=self.cuda_fast,
            persistent_workers=workers > 0,
        )
        self.run_dir = config.run_dir
        self.start_epoch = 0
        self.best_nme: float | None = None
        self.global_step = 0

    # ------------------------------------------------------------------ state
    def metadata(self, epoch: int, metrics: dict | None) -> dict:
        meta = {
            "config": self.config.model_dump(mode="json"),
            "epoch": epoch,
            "global_step": self.global_step,
            "metrics": metrics,
            "best_nme": self.best_nme,
            "scheme": self.scheme.name,
            "num_points": self.scheme.num_points,
            "train_images": len(self.train_samples),
            "val_images": len(self.val_samples),
        }
        if uses_300w(self.train_samples):
            meta["terms"] = TERMS_300W
        return meta

    def resume(self, path: str | Path) -> None:
        """Continue from ``last`` of a run directory (or a given checkpoint stem)."""
        path = Path(path)
        stem = path / "last" if path.is_dir() else checkpoint_stem(path)
        meta = read_metadata(stem)
        saved = config_from_dict(meta["config"], str(stem.with_suffix(".json")))
        if saved.model != self.config.model or saved.codec != self.config.codec:
            raise HeatmarkError(f"{stem}: the checkpoint's model/codec differ from the config")
        load_weights(stem, self.model)
        load_optimizer(stem, self.optimizer)
        self.start_epoch = int(meta["epoch"]) + 1
        self.global_step = int(meta.get("global_step", 0))
        self.best_nme = meta.get("best_nme")

    # ------------------------------------------------------------------ steps
    def _set_learning_rate(self, epoch: float) -> float:
        lr = self.config.optimizer.lr * learning_rate_factor(self.config.schedule, epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def train_step(self, batch: dict[str, torch.Tensor], epoch: int, step: int) -> float:
        images = batch["image"].to(self.device, non_blocking=True).float().div_(255.0)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        points = batch["points"].to(self.device, non_blocking=True)
        targets = self.codec.encode(points)
        heatmap_points = self.codec.to_heatmap(points)
        with torch.autocast(self.device.type, enabled=self.scaler.is_enabled()):
            outputs = self.ddp_model(images)
        loss = sum(self.loss_fn(out.float(), targets, heatmap_points) for out in outputs)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise NonFiniteLoss(
                f"the loss is {value} at epoch {epoch}, step {step} (global step "
                f"{self.global_step}); stopping. Lower optimizer.lr or check the data."
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.train.grad_clip:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.train.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return value

    def validate(self) -> Evaluation:
        cfg = self.config
        pred, _ = predict_dataset(
            self.model,
            self.val_set,
            self.codec,
            self.scheme.num_points,
            cfg.eval.decoding,
            cfg.softmax_decoding(),
            temperature=cfg.softmax_temperature(),
            batch_size=cfg.train.batch_size,
            device=self.device,
            channels_last=self.channels_last,
        )
        return evaluate_samples(pred, self.val_samples, cfg.eval.normaliser, cfg.eval.threshold)

    # ------------------------------------------------------------------ loop
    def fit(self) -> TrainResult:
        cfg = self.config
        main = self.context.is_main
        if self.start_epoch == 0:
            claim_run_dir(self.run_dir, self.overwrite, remove=main)
        log = RunLog(self.run_dir) if main else None
        if main:
            (self.run_dir / "config.yaml").write_text(config_to_yaml(cfg))
            self.console.print(
                f"[bold]heatmark train[/] {cfg.name}: {describe(cfg)}; "
                f"{len(self.train_samples)} train / {len(self.val_samples)} val images "
                f"({self.scheme.name}), device {self.device}"
                + (f", {self.context.world} processes" if self.context.enabled else "")
            )
        started = time.monotonic()
        last_eval: Evaluation | None = None
        losses: list[float] = []
        epoch = self.start_epoch - 1
        steps_per_epoch = len(self.loader)
        progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  {task.fields[speed]:.1f} img/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            disable=not (main and cfg.train.progress),
            transient=False,
        )
        total_steps = steps_per_epoch * (cfg.schedule.epochs - self.start_epoch)
        try:
            with progress:
                task = progress.add_task("train", total=total_steps, epoch=0, loss=0.0, speed=0.0)
                for epoch in range(self.start_epoch, cfg.schedule.epochs):
                    self.model.train()
                    self.sampler.set_epoch(epoch)
                    window_start, window_images = time.monotonic(), 0
                    for step, batch in enumerate(self.loader):
                        lr = self._set_learning_rate(epoch + step / max(steps_per_epoch, 1))
                        value = self.train_step(batch, epoch, step)
                        losses.append(value)
                        self.global_step += 1
                        window_images += len(batch["image"]) * self.context.world
                        speed = window_images / max(time.monotonic() - window_start, 1e-9)
                        progress.update(task, advance=1, epoch=epoch, loss=value, speed=speed)
                        if log and (self.global_step % cfg.train.log_every == 0 or step == 0):
                            log.step(
                                {
                                    "epoch": epoch,
                                    "step": step,
                                    "global_step": self.global_step,
                                    "loss": value,
                                    "lr": lr,
                                    "images_per_second": speed,
                                }
                            )
                    out_of_time = cfg.train.max_minutes is not None and (
                        time.monotonic() - started > 60 * cfg.train.max_minutes
                    )
                    final = epoch == cfg.schedule.epochs - 1 or out_of_time
                    if main:
                        due = (epoch + 1) % cfg.train.val_every == 0 or final
                        last_eval = self._end_of_epoch(epoch, log, validate=due) or last_eval
                    self.context.barrier()
                    if out_of_time:
                        break
        finally:
            if log:
                log.close()
            shutdown_distributed(self.context)
        return TrainResult(self.run_dir, epoch + 1, self.best_nme, last_eval, losses)

    def _end_of_epoch(self, epoch: int, log: RunLog | None, validate: bool) -> Evaluation | None:
        """Save ``last`` (weights + optimiser: what ``--resume`` needs) every epoch; validate
        when due and keep ``best`` by validation NME."""
        if not validate:
            save_checkpoint(self.run_dir / "last", self.model, self.metadata(epoch, None))
            save_optimizer(self.run_dir / "last", self.optimizer)
            return None
        evaluation = self.validate()
        metrics = evaluation.summary()
        improved = self.best_nme is None or evaluation.nme < self.best_nme
        if improved:
            self.best_nme = evaluation.nme
        meta = self.metadata(epoch, metrics)
        save_checkpoint(self.run_dir / "last", self.model, meta)
        save_optimizer(self.run_dir / "last", self.optimizer)
        if improved:
            save_checkpoint(self.run_dir / "best", self.model, meta)
        if log:
            log.validation(epoch, self.global_step, metrics)
        self.console.print(
            f"epoch {epoch}: val NME {100 * evaluation.nme:.2f}%  "
            f"FR_I@{evaluation.threshold:g} {100 * evaluation.fr_images:.2f}%  "
            f"FR_L@{evaluation.threshold:g} {100 * evaluation.fr_landmarks:.2f}%  "
            f"AUC@{evaluation.threshold:g} {100 * evaluation.auc_images:.2f}"
            + ("  (best)" if improved else "")
        )
        return evaluation
