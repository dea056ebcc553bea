"""CPU inference speed of an exported model: onnxruntime against torch (eager, and fused +
channels_last), crops -> points, in the same process.

Each variant runs uint8 crops to decoded points (torch: ``/ 255``, network, ``codec.decode``;
onnxruntime: the graph with its in-graph decoder). Variants are timed in interleaved rounds and
each keeps its best round, so load from other processes hurts them alike. Models: the shipped
CPU recipe's hourglass (HG-1, width 64, depth 4, input 128, 68 points) and HRNetV2-W18 at 256,
or a checkpoint (``--checkpoint``).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/bench_onnx.py [--threads N] [--quick]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from heatmark.codec import Decoding, HeatmapCodec
from heatmark.export import OnnxLandmarkModel, export_onnx
from heatmark.models import HRNetW18, StackedHourglass, fuse_for_inference, to_channels_last
from heatmark.schemes import FACE_68, Scheme


def _best_round(variants: dict[str, Callable[[], object]], rounds: int, calls: int) -> dict:
    best = dict.fromkeys(variants, float("inf"))
    for function in variants.values():  # warm-up
        function()
    for _ in range(rounds):
        for name, function in variants.items():
            start = time.perf_counter()
            for _ in range(calls):
                function()
            best[name] = min(best[name], (time.perf_counter() - start) / calls)
    return best


def bench(
    name: str,
    model: nn.Module,
    codec: HeatmapCodec,
    scheme: Scheme,
    threads: int,
    batches: tuple[int, ...],
    rounds: int,
) -> None:
    model.eval()
    fused = to_channels_last(fuse_for_inference(model))
    k = scheme.num_points
    with tempfile.TemporaryDirectory() as folder:
        path = export_onnx(
            model,
            codec,
            scheme,
            Path(folder) / "model.onnx",
            enlarge=1.25,
            decode=Decoding.GET_MAX,
            softmax=False,
            temperature=1.0,
        )
        runner = OnnxLandmarkModel(path, threads=threads)
        for batch in batches:
            crops = torch.randint(0, 256, (batch, 3, codec.input_size, codec.input_size))
            crops = crops.to(torch.uint8)
            array = crops.numpy()

            @torch.no_grad()
            def run_torch(network: nn.Module = model, c: torch.Tensor = crops) -> object:
                return codec.decode(network(c.float() / 255)[-1][:, :k], k)

            @torch.no_grad()
            def run_fused(c: torch.Tensor = crops) -> object:
                images = (c.float() / 255).contiguous(memory_format=torch.channels_last)
                return codec.decode(fused(images)[-1][:, :k], k)

            times = _best_round(
                {
                    "torch eager": run_torch,
                    "torch fused+CL": run_fused,
                    "onnxruntime": lambda a=array: runner.points(a),
                },
                rounds,
                calls=max(1, 8 // batch),
            )
            line = "  ".join(f"{v} {batch / t:7.1f} img/s" for v, t in times.items())
            ratio = times["torch eager"] / times["onnxruntime"]
            print(f"{name:10s} batch {batch}: {line}  (ort/eager {ratio:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--quick", action="store_true", help="one model, fewer rounds")
    parser.add_argument("--checkpoint", help="benchmark this checkpoint instead")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rounds = 2 if args.quick else 5
    batches = (1, 8)
    if args.checkpoint:
        from heatmark.models.checkpoint import load_landmark_model

        loaded = load_landmark_model(args.checkpoint)
        models = [("checkpoint", loaded.network, loaded.codec, loaded.scheme)]
    else:
        hg = StackedHourglass(FACE_68.num_points, num_stacks=1, width=64, depth=4, coordconv=True)
        models = [("HG-1 w64", hg, HeatmapCodec(128, 32), FACE_68)]
        if not args.quick:
            hrnet = HRNetW18(FACE_68.num_points)
            models.append(("HRNet-W18", hrnet, HeatmapCodec(256, 64), FACE_68))
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    for name, model, codec, scheme in models:
        bench(name, model, codec, scheme, args.threads, batches, rounds)


if __name__ == "__main__":
    main()
