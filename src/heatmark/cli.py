"""The ``heatmark`` command line: train, evaluate a checkpoint, evaluate any predictions, demo.

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
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from heatmark.codec import Decoding
from heatmark.errors import HeatmarkError
from heatmark.evaluate.metrics import Normaliser

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="heatmark: robust facial landmark detection by heatmap regression.",
)
console = Console(stderr=True)


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Print user-facing errors as one clear message and exit 1."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (HeatmarkError, ValueError, FileNotFoundError) as error:
            console.print(
                Text.assemble(("error: ", "bold red"), str(error)), highlight=False, soft_wrap=True
            )
            raise typer.Exit(1) from None

    return run


class Split(str, Enum):
    ALL = "all"
    TRAIN = "train"
    VAL = "val"


NormOption = Annotated[Normaliser, typer.Option("--norm", help="normalising distance of the NME")]
ThresholdOption = Annotated[
    float, typer.Option("--threshold", help="failure threshold / AUC limit (fraction)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print machine-readable metrics")]
PlotOption = Annotated[Path | None, typer.Option("--plot", help="write the CED curve to a PNG")]


def _report(evaluation, as_json: bool, plot: Path | None, name: str) -> None:
    from heatmark.evaluate.report import evaluation_table, plot_ced

    if as_json:
        print(json.dumps(evaluation.to_dict(), indent=2))
    else:
        Console().print(evaluation_table(evaluation, title=name))
    if plot is not None:
        curves = {"all": evaluation.nme_images}
        curves.update({n: sub.nme_images for n, sub in evaluation.subsets.items()})
        plot_ced(curves, plot, max_error=max(evaluation.threshold, 0.1), title=name)


@app.command()
@reports_errors
def train(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config")] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="override a key: section.key=value")
    ] = None,
    resume: Annotated[
        Path | None, typer.Option("--resume", help="run directory (or checkpoint) to continue")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="replace an earlier run of the same name")
    ] = False,
) -> None:
    """Train a landmark detector from a config (recipes in configs/)."""
    from heatmark.train.config import load_config
    from heatmark.train.trainer import Trainer

    cfg = load_config(config, overrides or [])
    trainer = Trainer(cfg, console=console, overwrite=overwrite)
    if resume is not None:
        trainer.resume(resume)
    result = trainer.fit()
    if result.best_nme is not None:
        console.print(f"best validation NME {100 * result.best_nme:.2f}%; run in {result.run_dir}")


@app.command()
@reports_errors
def evaluate(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="checkpoint or run dir")],
    data: Annotated[Path, typer.Option("--data", help="dataset (any supported format)")],
    decoding: Annotated[
        Decoding | None, typer.Option("--decoding", help="GET_MAX or GET_BC (default: config)")
    ] = None,
    norm: NormOption = Normaliser.INTER_OCULAR,
    threshold: ThresholdOption = 0.1,
    as_json: JsonOption = False,
    plot: PlotOption = None,
    save_predictions: Annotated[
        Path | None, typer.Option("--save-predictions", help="write predictions (JSON)")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="images per forward pass")] = 16,
    split: Annotated[
        Split, typer.Option("--split", help="all samples, or the run's seeded hold-out")
    ] = Split.ALL,
) -> None:
    """Evaluate a trained checkpoint on a dataset (ground-truth box crops).

    ``--split val`` evaluates on exactly the validation images the run held out (same seed,
    fraction and subset as its config), ``--split train`` on the rest.
    """
    from heatmark.data.dataset import LandmarkDataset
    from heatmark.data.readers.auto import load_dataset
    from heatmark.evaluate.cross_scheme import to_ground_truth_scheme
    from heatmark.evaluate.evaluation import evaluate_samples
    from heatmark.evaluate.inference import predict_dataset
    from heatmark.evaluate.prediction_file import write_prediction_json
    from heatmark.train.data import validation_split
    from heatmark.train.restore import load_trained

    trained = load_trained(checkpoint)
    if trained.terms:
        console.print(f"[dim]{trained.terms}[/]")
    samples = load_dataset(data)
    cfg = trained.config
    if split is not Split.ALL:
        train_part, val_part = validation_split(samples, cfg)
        samples = val_part if split is Split.VAL else train_part
    dataset = LandmarkDataset(
        samples,
        cfg.data.input_size,
        None,
        cfg.data.enlarge,
        use_dataset_box=cfg.data.use_dataset_box,
    )
    pred, scores = predict_dataset(
        trained.model,
        dataset,
        trained.codec,
        trained.scheme.num_points,
        decoding or cfg.eval.decoding,
        cfg.softmax_decoding(),
        temperature=cfg.softmax_temperature(),
        batch_size=batch_size,
    )
    if save_predictions is not None:
        write_prediction_json(save_predictions, samples, pred, scores)
    aligned, mask = to_ground_truth_scheme(pred, trained.scheme, samples[0].scheme)
    evaluation = evaluate_samples(aligned, samples, norm, threshold, mask=mask)
    _report(evaluation, as_json, plot, f"{Path(checkpoint).name} on {data.name}")


@app.command("eval")
@reports_errors
def eval_predictions(
    pred: Annotated[Path, typer.Option("--pred", help="predictions: .pts folder or JSON")],
    gt: Annotated[Path, typer.Option("--gt", help="ground-truth dataset (any format)")],
    norm: NormOption = Normaliser.INTER_OCULAR,
    threshold: ThresholdOption = 0.1,
    as_json: JsonOption = False,
    plot: PlotOption = None,
    visible_only: Annotated[
        bool, typer.Option("--visible-only", help="skip points annotated as occluded")
    ] = False,
) -> None:
    """Evaluate any predictor's output against a ground-truth dataset."""
    from heatmark.data.readers.auto import load_dataset
    from heatmark.evaluate.cross_scheme import to_ground_truth_scheme
    from heatmark.evaluate.evaluation import evaluate_samples
    from heatmark.evaluate.prediction_file import read_prediction_file
    from heatmark.schemes import scheme_for

    samples = load_dataset(gt)
    points = read_prediction_file(pred, samples)
    aligned, mask = to_ground_truth_scheme(points, scheme_for(points.shape[1]), samples[0].scheme)
    evaluation = evaluate_samples(aligned, samples, norm, threshold, visible_only, mask)
    _report(evaluation, as_json, plot, f"{pred.name} vs {gt.name}")


@app.command()
@reports_errors
def demo(
    data: Annotated[
        Path | None, typer.Option("--data", help="real faces (e.g. ../shared/data/300w)")
    ] = None,
    minutes: Annotated[float, typer.Option(help="training time budget")] = 4.0,
    out: Annotated[Path, typer.Option(help="report folder")] = Path("reports/demo"),
) -> None:
    """Train a small model for a few minutes on CPU and write a report (metrics, CED, grid)."""
    from heatmark.demo import run_demo

    run_demo(data, minutes, out, console)


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
