"""The training loop: seeded, resumable, validated, logged, and stopped on a non-finite loss.

SIGINT / SIGTERM end a run after the current step, leaving ``last`` (the last completed epoch)
to resume from; a second signal aborts at once.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

from heatmark.codec import HeatmapCodec
from heatmark.data.dataset import EpochSampler, ErrorCarryingLoader, LandmarkDataset
from heatmark.data.sample import Sample, is_body_scheme
from heatmark.errors import ConfigError, HeatmarkError
from heatmark.evaluate.evaluation import Evaluation, evaluate_samples
from heatmark.evaluate.inference import predict_dataset
from heatmark.evaluate.metrics import check_normaliser
from heatmark.models.checkpoint import (
    EMA_WEIGHTS,
    TERMS_300W,
    checkpoint_stem,
    has_ema,
    load_optimizer,
    load_weights,
    meta_path,
    read_resume_metadata,
    recover_checkpoint,
    save_checkpoint,
)
from heatmark.models.config import heatmap_shape
from heatmark.models.landmark_model import LandmarkModel
from heatmark.models.shipped import load_model_reference
from heatmark.train.build import (
    build_codec,
    build_loss,
    build_model,
    build_optimizer,
    describe,
    learning_rate_factor,
)
from heatmark.train.config import Config, config_differences, config_from_dict, config_to_yaml
from heatmark.train.data import training_samples, uses_300w
from heatmark.train.distill import Teacher
from heatmark.train.distributed import (
    DistributedContext,
    init_distributed,
    shutdown_distributed,
)
from heatmark.train.ema import WeightAverage
from heatmark.train.logs import CHANGES, RunLog, claim_run_dir, writing
from heatmark.train.supervision import Supervision

RESUME_NEUTRAL_KEYS = frozenset({"train.progress", "train.log_every", "data.workers"})
"""Settings a resumed run may change freely: they change neither the data nor the numbers."""
STRUCTURAL_SECTIONS = ("model", "codec")
"""Sections a resumed run can never change (the weights are made for them)."""


class NonFiniteLoss(HeatmarkError):
    """The loss became NaN or infinite; training stops instead of corrupting the weights."""


class TrainingInterrupted(HeatmarkError):
    """SIGINT or SIGTERM stopped the run after a step; ``exit_code`` is 128 + the signal."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def __reduce__(self) -> tuple:
        return type(self), (str(self), self.exit_code)


class _StopRequest:
    """Set by SIGINT/SIGTERM while ``fit`` runs; a second signal aborts (KeyboardInterrupt)."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum

    @contextmanager
    def installed(self) -> Iterator[_StopRequest]:
        if threading.current_thread() is not threading.main_thread():
            yield self  # signals are only delivered to the main thread
            return
        previous = {
            sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _worker_signals(worker_id: int) -> None:
    """DataLoader workers leave SIGINT (a terminal's Ctrl-C reaches the whole process group) to
    the main process, which stops cleanly, and exit quietly on SIGTERM (killed by a signal,
    torch would raise in the main process at whatever it is doing)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(0))


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


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
        """``overwrite``: a fresh (not resumed) run may replace an earlier run's files.

        The model must output ``codec.heatmap_size`` maps at ``data.input_size`` (checked with
        one forward pass), else a ``ConfigError`` names both keys.
        """
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
        try:
            check_normaliser(self.scheme, config.eval.normaliser)
        except ValueError as error:
            raise ConfigError(f"eval.normaliser: {error}") from None
        mask_invisible = config.train.mask_invisible
        self.mask_invisible = (
            is_body_scheme(self.scheme) if mask_invisible is None else mask_invisible
        )
        """Whether points annotated invisible weigh 0 in the loss (``train.mask_invisible``)."""
        self.codec: HeatmapCodec = build_codec(config.codec, config.data.input_size, self.scheme)
        model = build_model(config.model, self.scheme.num_points, self.codec.has_boundary)
        self.cuda_fast = self.device.type == "cuda"
        self.channels_last = config.train.channels_last
        model = model.to(self.device)
        self._check_heatmap_size(model)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.description = config.description(self.scheme.name)
        self.ema = WeightAverage(model, config.train.ema_decay) if config.train.ema_decay else None
        """The weights' moving average (``train.ema_decay``), or None."""
        self.landmark_model = LandmarkModel(
            self.ema.network if self.ema else model, self.description
        )
        """The network validation runs and ``best`` keeps (the moving average, with EMA)."""
        self.ddp_model: nn.Module = (
            DistributedDataParallel(
                model, device_ids=[self.device.index] if self.cuda_fast else None
            )
            if self.context.enabled
            else model
        )
        supervision = config.train.supervision
        self.supervision = Supervision(
            build_loss(config.loss).to(self.device),
            self.codec,
            supervision.sigma_scales,
            supervision.weights,
            supervision.hard_keypoints,
            num_points=self.scheme.num_points,
            distill_weight=config.train.distill.weight if config.train.distill else 0.0,
        )
        self.teacher: Teacher | None = None
        """The model whose heatmaps are a second target (``train.distill``), or None."""
        if config.train.distill is not None:
            try:
                teacher = load_model_reference(config.train.distill.teacher)
            except HeatmarkError as error:
                raise ConfigError(f"train.distill.teacher: {error}") from None
            self.teacher = Teacher(teacher, self.description, self.device)
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
        # a DataError of a worker (missing image...) reaches the main process as itself
        self.loader = ErrorCarryingLoader(
            self.train_set,
            batch_size=config.train.batch_size,
            sampler=self.sampler,
            num_workers=workers,
            drop_last=len(self.sampler) >= config.train.batch_size,
            pin_memory=self.cuda_fast,
            persistent_workers=workers > 0,
            worker_init_fn=_worker_signals if workers > 0 else None,
        )
        self.run_dir = config.run_dir
        self.start_epoch = 0
        self.best_nme: float | None = None
        self.global_step = 0
        self.saved_epoch: int | None = None
        """The epoch ``last`` holds (what a resume would continue after)."""
        self.resumed_from: Path | None = None
        self.changes: list[tuple[str, Any, Any]] = []
        """Settings changed on resuming (``allow_changes``), recorded in ``changes.csv``."""

    def _check_heatmap_size(self, model: nn.Module) -> None:
        cfg = self.config
        size, expected = cfg.data.input_size, cfg.codec.heatmap_size
        try:
            _, height, width = heatmap_shape(model, size)
        except (RuntimeError, ValueError) as error:
            raise ConfigError(f"data.input_size: the model cannot take {size}: {error}") from None
        if (height, width) != (expected, expected):
            raise ConfigError(
                f"codec.heatmap_size: {expected}, but the model outputs {height}x{width} maps at "
                f"data.input_size {size}; set codec.heatmap_size={height}"
            )

    # ------------------------------------------------------------------ state
    def metadata(self, epoch: int, metrics: dict | None) -> dict:
        meta = {
            "config": self.config.model_dump(mode="json"),
            "epoch": epoch,
            "global_step": self.global_step,
            "metrics": metrics,
            "best_nme": self.best_nme,
            "scheme": self.scheme.name,
            "description": self.description.to_dict(),
            "num_points": self.scheme.num_points,
            "train_images": len(self.train_samples),
            "val_images": len(self.val_samples),
        }
        if uses_300w(self.train_samples):
            meta["terms"] = TERMS_300W
        return meta

    def resume(self, path: str | Path, allow_changes: bool = False) -> None:
        """Continue from ``last`` of a run directory (or a given checkpoint stem).

        The config must be the checkpoint's: a differing key is a ``ConfigError`` listing every
        difference (old -> new), unless ``allow_changes``, which continues with the new values
        and records them in the run's ``changes.csv``. A different model or codec is always an
        error (the weights are made for them). A save interrupted by a kill is completed or
        discarded first; files of different saves are an error, never a silent mix.
        """
        path = Path(path)
        stem = path / "last" if path.is_dir() else checkpoint_stem(path)
        if self.context.is_main:
            for name in dict.fromkeys((stem.name, "best")):
                if recover_checkpoint(stem.parent / name):
                    self.console.print(f"completed the interrupted save of {stem.parent / name}")
        self.context.barrier()
        meta = read_resume_metadata(stem)
        sidecar = meta_path(stem)
        saved = config_from_dict(meta["config"], str(sidecar))
        differences = [
            (key, old, new)
            for key, old, new in config_differences(saved, self.config)
            if key not in RESUME_NEUTRAL_KEYS
        ]
        listed = "; ".join(f"{key}: {_show(old)} -> {_show(new)}" for key, old, new in differences)
        structural = [key for key, _, _ in differences if key.split(".")[0] in STRUCTURAL_SECTIONS]
        if structural:
            raise ConfigError(
                f"--resume {sidecar}: the checkpoint's model/codec differ from the config "
                f"({listed}); the weights cannot be continued with another model or codec"
            )
        if differences and not allow_changes:
            raise ConfigError(
                f"--resume {sidecar}: the config differs from the checkpoint's: {listed}. Resume "
                "with the run's own config, or pass --allow-changes to continue with the new "
                f"values (recorded in {CHANGES})"
            )
        load_weights(stem, self.model, meta)
        load_optimizer(stem, self.optimizer, meta)
        if self.ema is not None:
            if has_ema(stem, meta):
                load_weights(stem, self.ema.network, meta, role=EMA_WEIGHTS)
            else:  # EMA switched on at resume (--allow-changes): average from here on
                self.ema.reset(self.model)
            self.ema.updates = meta.get("global_step", 0)
        self.start_epoch = meta["epoch"] + 1
        self.saved_epoch = meta["epoch"]
        self.global_step = meta.get("global_step", 0)
        self.best_nme = meta.get("best_nme")
        self.resumed_from = stem.parent
        self.changes = differences
        if differences and self.context.is_main:
            self.console.print(
                f"resuming at epoch {self.start_epoch} with changed settings: {listed} "
                f"(recorded in {self.run_dir / CHANGES})"
            )

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
        with torch.autocast(self.device.type, enabled=self.scaler.is_enabled()):
            outputs = self.ddp_model(images)
        mask = None
        if self.mask_invisible:  # invisible points (e.g. LSP placeholders) weigh 0
            mask = batch["visible"].to(self.device, non_blocking=True).float()
        teacher = self.teacher.maps(images) if self.teacher is not None else None
        loss = self.supervision(outputs, points, mask, teacher)
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
        if self.ema is not None:
            self.ema.update(self.model)
        return value

    def _stop_requested(self, stop: _StopRequest) -> bool:
        return self.context.any(stop.signal is not None, self.device)

    def _batches(self, stop: _StopRequest) -> Iterator[dict[str, torch.Tensor]]:
        """The loader's batches. After SIGINT/SIGTERM a failing loader (its workers got the
        signal too) just ends them: the caller reports the stop."""
        batches = iter(self.loader)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except RuntimeError:
                if stop.signal is None:
                    raise
                return
            yield batch

    def _interrupted(
        self, stop: _StopRequest, epoch: int, done: int | None = None, steps: int = 0
    ) -> TrainingInterrupted:
        """The error ending a run stopped by a signal in ``epoch`` after ``done`` of its
        ``steps`` (None: after the epoch was saved); it says how to resume."""
        signum = stop.signal or signal.SIGINT
        name = signal.Signals(signum).name
        where = f"after epoch {epoch}"
        if done is not None:
            where = f"in epoch {epoch} after step {done}/{steps}"
        if self.saved_epoch is None:
            then = (
                "no epoch was completed, so there is nothing to resume: start again with "
                "--overwrite"
            )
        else:
            then = (
                f"{self.run_dir / 'last'} holds epoch {self.saved_epoch}; continue with the same "
                f"command and --resume {self.run_dir}"
            )
        return TrainingInterrupted(f"{name} stopped training {where}; {then}", 128 + signum)

    def validate(self) -> Evaluation:
        cfg = self.config
        pred, _ = predict_dataset(
            self.landmark_model,
            self.val_set,
            batch_size=cfg.train.batch_size,
            device=self.device,
            channels_last=self.channels_last,
        )
        return evaluate_samples(pred, self.val_samples, cfg.eval.normaliser, cfg.eval.threshold)

    # ------------------------------------------------------------------ loop
    def fit(self) -> TrainResult:
        """Train from ``start_epoch``; ``TrainingInterrupted`` when SIGINT/SIGTERM stopped it."""
        stop = _StopRequest()
        with stop.installed():
            return self._fit(stop)

    def _same_run_dir(self) -> bool:
        if self.resumed_from is None:
            return False
        return self.resumed_from.resolve() == self.run_dir.resolve()

    def _fit(self, stop: _StopRequest) -> TrainResult:
        cfg = self.config
        main = self.context.is_main
        if not self._same_run_dir():  # a fresh run, or one resumed into another directory
            claim_run_dir(self.run_dir, self.overwrite, remove=main)
        self.context.barrier()  # every rank has looked before the main one writes the logs
        log = RunLog(self.run_dir) if main else None
        if main:
            with writing(self.run_dir / "config.yaml"):
                (self.run_dir / "config.yaml").write_text(config_to_yaml(cfg))
            if log and self.changes:
                log.changes(self.start_epoch, [(k, _show(a), _show(b)) for k, a, b in self.changes])
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
        interrupted: TrainingInterrupted | None = None
        try:
            with progress:
                task = progress.add_task("train", total=total_steps, epoch=0, loss=0.0, speed=0.0)
                for epoch in range(self.start_epoch, cfg.schedule.epochs):
                    self.model.train()
                    self.sampler.set_epoch(epoch)
                    window_start, window_images = time.monotonic(), 0
                    done = 0
                    for step, batch in enumerate(self._batches(stop)):
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
                        done = step + 1
                        # stop now, unless this step ended the epoch: then save it first
                        if self._stop_requested(stop) and done < steps_per_epoch:
                            interrupted = self._interrupted(stop, epoch, done, steps_per_epoch)
                            break
                    if interrupted is None and done < steps_per_epoch and stop.signal is not None:
                        interrupted = self._interrupted(stop, epoch, done, steps_per_epoch)
                    if interrupted is not None:
                        break  # mid-epoch: ``last`` keeps the previous epoch
                    out_of_time = cfg.train.max_minutes is not None and (
                        time.monotonic() - started > 60 * cfg.train.max_minutes
                    )
                    final = epoch == cfg.schedule.epochs - 1 or out_of_time
                    if main:
                        due = (epoch + 1) % cfg.train.val_every == 0 or final
                        last_eval = self._end_of_epoch(epoch, log, validate=due) or last_eval
                    self.context.barrier()
                    if self._stop_requested(stop) and not final:  # (the run is done if final)
                        interrupted = self._interrupted(stop, epoch)
                        break
                    if out_of_time:
                        break
        finally:
            if log:
                log.close()
            shutdown_distributed(self.context)
        if interrupted is not None:
            raise interrupted
        return TrainResult(self.run_dir, epoch + 1, self.best_nme, last_eval, losses)

    def _end_of_epoch(self, epoch: int, log: RunLog | None, validate: bool) -> Evaluation | None:
        """Save ``last`` (weights + optimiser: what ``--resume`` needs) every epoch; validate
        when due and keep ``best`` by validation NME.

        ``best`` is saved before ``last``: a kill between them resumes at this epoch again,
        which finds the same NME and rewrites the same ``best``."""
        last = self.run_dir / "last"
        ema = self.ema.network if self.ema else None
        if not validate:
            save_checkpoint(last, self.model, self.metadata(epoch, None), self.optimizer, ema)
            self.saved_epoch = epoch
            return None
        evaluation = self.validate()
        metrics = evaluation.summary()
        improved = self.best_nme is None or evaluation.nme < self.best_nme
        if improved:
            self.best_nme = evaluation.nme
        meta = self.metadata(epoch, metrics)
        if improved:
            save_checkpoint(self.run_dir / "best", self.landmark_model.network, meta)
        save_checkpoint(last, self.model, meta, self.optimizer, ema)
        self.saved_epoch = epoch
        if log:
            log.validation(epoch, self.global_step, metrics)
        self.console.print(
            f"epoch {epoch}: val NME {100 * evaluation.nme:.2f}%  "
            f"FR_I@{evaluation.threshold:g} {100 * evaluation.fr_images:.2f}%  "
            f"FR_L@{evaluation.threshold:g} {100 * evaluation.fr_landmarks:.2f}%  "
            f"AUC@{evaluation.threshold:g} {100 * evaluation.auc_images:.2f}"
            + (
                f"  PCK@{evaluation.pck_threshold:g} {100 * evaluation.pck:.2f}%"
                if evaluation.has_pck
                else ""
            )
            + ("  (best)" if improved else "")
        )
        return evaluation
