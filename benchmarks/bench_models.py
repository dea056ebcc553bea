"""Training and inference speed of the networks: plain eager NCHW fp32 against the fast paths.

CPU, training (forward + backward + optimizer step, MSE on random targets) at input 256:
HG-1 and HG-4 (width 256, RMSprop as in the AWing recipe) and HRNetV2-W18 (Adam as in the HRNet
recipe). Every model runs as plain eager NCHW fp32 and as each candidate fast path in the SAME
process; the variants are timed in interleaved rounds and each keeps its best round, so load from
other processes on a shared machine hurts them alike. Candidates: channels_last; channels_last
and/or the fused optimizer step (Adam's single fused kernel, RMSprop's multi-tensor kernels;
the CPU default is a per-parameter loop); torch.compile (``--compile``, slow to warm up on
a small CPU); bf16 autocast, only when a probe shows bf16 convolutions beating fp32 on this CPU.
The table reports img/s and the best candidate's ratio to the baseline (goal >= 1.3x).

CPU, inference at batch 1: eager NCHW against ``fuse_for_inference`` (BN folded) with and
without channels_last.

CUDA (only when ``torch.cuda.is_available()``): HG-1 and HG-4 inference FPS at batch 1, eager
fp32 against fused + channels_last + fp16 autocast (the AWing paper: 120 and 34.5 FPS on a
GTX 1080Ti).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_models.py [--quick] [--compile]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from heatmark.models import (
    HRNetW18,
    StackedHourglass,
    count_multiply_adds,
    count_parameters,
    fuse_for_inference,
    to_channels_last,
)

INPUT_SIZE = 256
NUM_POINTS = 68


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[], nn.Module]
    optimizer: str  # "rmsprop" (AWing recipe) or "adam" (HRNet recipe)


MODELS = (
    ModelSpec("HG-1", lambda: StackedHourglass(NUM_POINTS, num_stacks=1, width=256), "rmsprop"),
    ModelSpec("HG-4", lambda: StackedHourglass(NUM_POINTS, num_stacks=4, width=256), "rmsprop"),
    ModelSpec("HRNet-W18", lambda: HRNetW18(NUM_POINTS), "adam"),
)


@dataclass(frozen=True)
class Variant:
    """One way of running the same model."""

    name: str
    channels_last: bool = False
    fused_optimizer: bool = False
    compile: bool = False
    bf16: bool = False


BASELINE = Variant("eager NCHW fp32")


def _optimizer(kind: str, parameters, fused: bool) -> torch.optim.Optimizer:
    if kind == "rmsprop":  # no fused CPU kernel: the multi-tensor (foreach) path is the fast one
        return torch.optim.RMSprop(parameters, lr=1e-4, weight_decay=1e-5, foreach=fused or None)
    return torch.optim.Adam(parameters, lr=1e-4, fused=fused or None)


def make_training_step(spec: ModelSpec, variant: Variant, batch: int) -> Callable[[], None]:
    """A closure running one training step of ``spec`` as ``variant`` on fixed random data."""
    torch.manual_seed(0)
    model = spec.build().train()
    image = torch.randn(batch, 3, INPUT_SIZE, INPUT_SIZE)
    with torch.no_grad():
        targets = [torch.rand_like(o) for o in model(image)]
    if variant.channels_last:
        to_channels_last(model)
        image = image.contiguous(memory_format=torch.channels_last)
    optimizer = _optimizer(spec.optimizer, model.parameters(), variant.fused_optimizer)
    forward = torch.compile(model) if variant.compile else model

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant.bf16):
            outputs = forward(image)
        loss = sum(
            nn.functional.mse_loss(o.float(), t) for o, t in zip(outputs, targets, strict=True)
        )
        loss.backward()
        optimizer.step()

    return step


def time_interleaved(
    steps: dict[str, Callable[[], None]], warmup: int, rounds: int, per_round: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Warm-up seconds and best seconds per call of each closure, timed in interleaved rounds."""
    warmup_seconds = {}
    for name, step in steps.items():
        start = time.perf_counter()
        for _ in range(warmup):
            step()
        warmup_seconds[name] = time.perf_counter() - start
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(per_round):
                step()
            best[name] = min(best[name], (time.perf_counter() - start) / per_round)
    return warmup_seconds, best


def bf16_beats_fp32() -> tuple[bool, str]:
    """Probe one small conv: is bf16 autocast faster than fp32 on this CPU?

    Without native bf16 instructions (AVX512-BF16 / AMX) oneDNN emulates bf16 and is orders of
    magnitude slower, so bf16 is only tried on the models when this probe says it pays.
    """
    conv = nn.Conv2d(64, 64, 3, padding=1, bias=False)
    x = torch.randn(1, 64, 32, 32)

    def run(bf16: bool) -> float:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            conv(x)
            start = time.perf_counter()
            conv(x)
            return time.perf_counter() - start

    fp32, bf16 = min(run(False) for _ in range(3)), run(True)
    if bf16 < fp32:
        bf16 = min(bf16, run(True), run(True))
    note = f"3x3 conv 64->64 at 32x32: fp32 {fp32 * 1e3:.2f} ms, bf16 {bf16 * 1e3:.2f} ms"
    return bf16 < 0.9 * fp32, note


def training_table(args: argparse.Namespace, bf16_helps: bool) -> list[str]:
    variants = [
        BASELINE,
        Variant("NCHW + fused optimizer", fused_optimizer=True),
        Variant("channels_last", channels_last=True),
        Variant("channels_last + fused optimizer", channels_last=True, fused_optimizer=True),
    ]
    if args.compile:
        variants.append(Variant("torch.compile", compile=True))
        variants.append(Variant("torch.compile + channels_last", channels_last=True, compile=True))
    if bf16_helps:
        variants.append(Variant("channels_last + bf16 autocast", channels_last=True, bf16=True))
    lines = [
        "| model | batch | "
        + " | ".join(f"{v.name} img/s" for v in variants)
        + " | best fast path | speed-up |",
        "|" + "---|" * (len(variants) + 4),
    ]
    for spec in MODELS:
        if spec.name not in args.models:
            continue
        steps = {v.name: make_training_step(spec, v, args.batch) for v in variants}
        warmup, best = time_interleaved(steps, args.warmup, args.rounds, args.steps)
        rates = {name: args.batch / seconds for name, seconds in best.items()}
        fastest = max((v.name for v in variants[1:]), key=rates.__getitem__)
        ratio = rates[fastest] / rates[BASELINE.name]
        cells = " | ".join(f"{rates[v.name]:.2f}" for v in variants)
        lines.append(f"| {spec.name} | {args.batch} | {cells} | {fastest} | {ratio:.2f}x |")
        slow_warmups = {k: v for k, v in warmup.items() if v > 10 * best[k] * args.warmup}
        for name, seconds in slow_warmups.items():
            lines.append(f"|  | | warm-up of {name}: {seconds:.0f} s (compilation) |")
        print(lines[-1], flush=True)
        del steps
    return lines


def inference_table(args: argparse.Namespace) -> list[str]:
    lines = [
        "| model | eager NCHW img/s | fused img/s | fused + channels_last img/s | speed-up |",
        "|---|---|---|---|---|",
    ]
    for spec in MODELS:
        if spec.name not in args.models:
            continue
        torch.manual_seed(0)
        model = spec.build().eval()
        fused = fuse_for_inference(model)
        fused_cl = to_channels_last(fuse_for_inference(model))
        image = torch.randn(1, 3, INPUT_SIZE, INPUT_SIZE)
        image_cl = image.contiguous(memory_format=torch.channels_last)

        def infer(net: nn.Module, x: torch.Tensor) -> Callable[[], None]:
            def call() -> None:
                with torch.inference_mode():
                    net(x)

            return call

        steps = {
            "eager": infer(model, image),
            "fused": infer(fused, image),
            "fused_cl": infer(fused_cl, image_cl),
        }
        _, best = time_interleaved(steps, 1, args.rounds, args.steps)
        rates = {k: 1.0 / v for k, v in best.items()}
        ratio = max(rates["fused"], rates["fused_cl"]) / rates["eager"]
        lines.append(
            f"| {spec.name} | {rates['eager']:.2f} | {rates['fused']:.2f} | "
            f"{rates['fused_cl']:.2f} | {ratio:.2f}x |"
        )
        print(lines[-1], flush=True)
    return lines


def cuda_table(args: argparse.Namespace) -> list[str]:
    device = torch.device("cuda")
    lines = [
        f"CUDA inference at batch 1, {torch.cuda.get_device_name(device)} "
        "(AWing paper, GTX 1080Ti: HG-1 120 FPS, HG-4 34.5 FPS)",
        "",
        "| model | eager fp32 FPS | fused + channels_last + fp16 autocast FPS | speed-up |",
        "|---|---|---|---|",
    ]
    torch.backends.cudnn.benchmark = True
    for spec in MODELS[:2]:
        torch.manual_seed(0)
        model = spec.build().eval().to(device)
        fast = to_channels_last(fuse_for_inference(model))
        image = torch.randn(1, 3, INPUT_SIZE, INPUT_SIZE, device=device)
        image_cl = image.contiguous(memory_format=torch.channels_last)
        fps = {}
        for name, net, x, amp in (("eager", model, image, False), ("fast", fast, image_cl, True)):
            autocast = torch.autocast("cuda", dtype=torch.float16, enabled=amp)
            with torch.inference_mode(), autocast:
                for _ in range(20):
                    net(x)
                torch.cuda.synchronize()
                count = 50 if args.quick else 200
                start = time.perf_counter()
                for _ in range(count):
                    net(x)
                torch.cuda.synchronize()
            fps[name] = count / (time.perf_counter() - start)
        lines.append(
            f"| {spec.name} | {fps['eager']:.1f} | {fps['fast']:.1f} | "
            f"{fps['fast'] / fps['eager']:.2f}x |"
        )
        print(lines[-1], flush=True)
    return lines


def model_sizes() -> list[str]:
    lines = ["| model | parameters | multiply-adds at 256x256 |", "|---|---|---|"]
    for spec in MODELS:
        model = spec.build()
        lines.append(
            f"| {spec.name} ({NUM_POINTS} points) | {count_parameters(model) / 1e6:.2f} M | "
            f"{count_multiply_adds(model, INPUT_SIZE) / 1e9:.2f} G |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="batch 1, fewer rounds")
    parser.add_argument("--compile", action="store_true", help="also try torch.compile (slow)")
    parser.add_argument("--batch", type=int, help="training batch (default 2, quick 1)")
    parser.add_argument("--rounds", type=int, help="timed rounds per variant (default 3)")
    parser.add_argument("--steps", type=int, help="steps per round (default 2, quick 1)")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up steps per variant")
    parser.add_argument(
        "--models", nargs="+", default=[m.name for m in MODELS], choices=[m.name for m in MODELS]
    )
    parser.add_argument("--no-inference", action="store_true", help="skip the inference tables")
    args = parser.parse_args()
    args.batch = args.batch or (1 if args.quick else 2)
    args.rounds = args.rounds or (2 if args.quick else 3)
    args.steps = args.steps or (1 if args.quick else 2)
    for name in ("batch", "rounds", "steps", "warmup"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")

    torch.set_num_threads(os.cpu_count() or 1)
    bf16_helps, bf16_note = bf16_beats_fp32()
    report = [
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}, OMP_WAIT_POLICY="
        f"{os.environ.get('OMP_WAIT_POLICY')}",
        f"bf16 probe: {bf16_note} -> bf16 autocast {'tried' if bf16_helps else 'skipped'}",
        "",
        *model_sizes(),
        "",
        f"CPU training, input {INPUT_SIZE}, best of {args.rounds} rounds x {args.steps} steps",
        "",
    ]
    print("\n".join(report), flush=True)
    report += training_table(args, bf16_helps)
    if not args.no_inference:
        report += ["", "CPU inference, batch 1", "", *inference_table(args)]
    if torch.cuda.is_available():
        report += ["", *cuda_table(args)]
    print("\n" + "\n".join(report))


if __name__ == "__main__":
    main()
