"""``heatmark predict``: a ``Predictor`` over images, folders, globs and videos, with outputs.

Images go through the network in batches; each video is decoded in one stream and tracked.
Results go to one JSON file (``heatmark.predict.output``), or one ``.pts``/``.csv`` per face,
plus optional annotated images (``--draw``) and annotated videos (``--video-out``). An image
that cannot be read is reported and skipped; the command fails (exit 1) only when nothing could
be processed.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from heatmark.errors import DataError, HeatmarkError
from heatmark.predict.inputs import InputItem, expand_inputs
from heatmark.predict.output import ImageRecord, detections_document, write_json, write_per_face
from heatmark.predict.predictor import Predictor, load_rgb


@dataclass
class PredictOptions:
    """Where results go and how videos are followed."""

    out: Path | None = None
    format: str = "json"  # json | pts | csv
    draw: Path | None = None
    video_out: Path | None = None
    smooth: bool = False
    redetect_every: int = 10


def _check_outputs(options: PredictOptions, items: list[InputItem]) -> None:
    if options.format not in ("json", "pts", "csv"):
        raise HeatmarkError(f"--format must be json, pts or csv, got {options.format!r}")
    if options.format == "json" and options.out is not None:
        if options.out.is_dir():
            raise DataError(options.out, "is a folder: give a .json file (or --format pts|csv)")
        if options.out.suffix.lower() != ".json":
            raise DataError(options.out, "the JSON output needs a .json file name")
    if options.format != "json" and options.out is None:
        raise HeatmarkError(f"--format {options.format} writes one file per face: give --out DIR")
    if options.video_out is not None:
        videos = [item for item in items if item.is_video]
        if len(videos) != 1:
            raise HeatmarkError(
                f"--video-out writes one annotated video: give exactly one video input "
                f"(got {len(videos)})"
            )
        if options.video_out.suffix.lower() not in (".mp4", ".avi"):
            raise DataError(options.video_out, "--video-out must end in .mp4 or .avi")


def run_predict(
    inputs: list[str], predictor: Predictor, options: PredictOptions, console: Console
) -> list[ImageRecord]:
    """Run ``predictor`` on every input and write the outputs; returns the records."""
    items = expand_inputs(inputs)
    _check_outputs(options, items)
    images = [item for item in items if not item.is_video]
    videos = [item for item in items if item.is_video]
    records: list[ImageRecord] = []
    failures: list[str] = []
    faces_done = 0
    started = time.monotonic()
    progress = Progress(
        TextColumn("[bold]predict"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:.1f} faces/s"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with progress:
        task = progress.add_task("images", total=len(images) or None, rate=0.0)
        for start in range(0, len(images), predictor.batch_size):
            chunk = images[start : start + predictor.batch_size]
            readable, rgbs = [], []
            for item in chunk:
                try:
                    rgbs.append(load_rgb(item.path))
                    readable.append(item)
                except DataError as error:
                    failures.append(str(error))
                    console.print(f"[yellow]skipped:[/] {error}", highlight=False)
            found = predictor.predict_batch(rgbs, paths=[item.path for item in readable])
            for item, rgb, faces in zip(readable, rgbs, found, strict=True):
                height, width = rgb.shape[:2]
                records.append(ImageRecord(item.key, str(item.path), (width, height), faces))
                faces_done += len(faces)
                if options.draw is not None:
                    _draw(options.draw / f"{item.key}.jpg", rgb, faces)
            rate = faces_done / max(time.monotonic() - started, 1e-9)
            progress.update(task, advance=len(chunk), rate=rate)
        for item in videos:
            records += _run_video(item, predictor, options, progress)
    if not records:
        raise HeatmarkError("nothing could be processed: " + "; ".join(failures[:3]))
    missed = [record.key for record in records if not record.faces]
    if missed:
        console.print(
            f"[yellow]no face found[/] in {len(missed)} of {len(records)} images/frames "
            f"(first: {missed[0]}); they are listed with an empty face list",
            highlight=False,
        )
    header = _header(predictor)
    if options.format == "json":
        if options.out is None:
            json.dump(detections_document(records, header), sys.stdout, allow_nan=False)
            sys.stdout.write("\n")
        else:
            write_json(options.out, records, header)
    else:
        write_per_face(options.out, records, options.format)
    elapsed = time.monotonic() - started
    total_faces = sum(len(record.faces) for record in records)
    console.print(
        f"{len(records)} images/frames, {total_faces} faces in {elapsed:.1f} s "
        f"({total_faces / max(elapsed, 1e-9):.1f} faces/s)"
        + (f"; written to {options.out}" if options.out else ""),
        highlight=False,
    )
    return records


def _header(predictor: Predictor) -> dict:
    header = {
        "scheme": predictor.scheme.name,
        "detector": predictor.detector.name,
        "model": predictor.description.to_dict(),
        "flip": predictor.flip,
        "refine": predictor.refine,
    }
    if predictor.terms:
        header["terms"] = predictor.terms
    return header


def _draw(path: Path, rgb, faces) -> None:
    from heatmark.predict.draw import draw_faces

    path.parent.mkdir(parents=True, exist_ok=True)
    annotated = draw_faces(rgb, faces)
    if not cv2.imwrite(str(path), cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR)):
        raise DataError(path, "cannot write the annotated image")


def _run_video(
    item: InputItem, predictor: Predictor, options: PredictOptions, progress: Progress
) -> list[ImageRecord]:
    """Track faces through one video; frames are keyed ``<video key>/<frame, 1-based>``."""
    from heatmark.predict.draw import draw_faces
    from heatmark.predict.video import FrameReader, VideoWriter

    reader = FrameReader(item.path)  # opened once: frames are decoded in one stream
    task = progress.add_task(item.key, total=reader.frame_count or None, rate=0.0)
    records = []
    writer = VideoWriter(options.video_out, reader.fps) if options.video_out else None
    started, faces_done = time.monotonic(), 0
    try:
        for frame, rgb in predictor.track_frames(
            reader, redetect_every=options.redetect_every, smooth=options.smooth
        ):
            height, width = rgb.shape[:2]
            key = f"{item.key}/{frame.index + 1:06d}"
            records.append(ImageRecord(key, str(item.path), (width, height), frame.faces))
            faces_done += len(frame.faces)
            if writer is not None:
                writer.write(draw_faces(rgb, frame.faces))
            rate = faces_done / max(time.monotonic() - started, 1e-9)
            progress.update(task, advance=1, rate=rate)
    finally:
        if writer is not None:
            writer.close()
    return records
