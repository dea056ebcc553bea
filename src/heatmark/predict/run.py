"""``heatmark predict``: a ``Predictor`` over images, folders, globs and videos, with outputs.

Images go through the network in batches; each video is decoded in one stream and tracked.
Results go to one JSON file, a JSON-lines file, or one ``.pts``/``.csv`` per face
(``heatmark.predict.output``), plus optional annotated images (``--draw``) and annotated videos
(``--video-out``).

Nothing is lost on bad input: an input that fails (an unreadable or too large image, a video
that cannot be opened or breaks off) is skipped with one line on the console and recorded with
its reason in the output's ``failures``; everything else is written. Results are journaled as
they are made (``--format jsonl`` is the journal; a JSON ``--out`` file is journaled to
``<out>.partial.jsonl`` and written at the end; pts/csv files are written per batch), so a
killed run keeps its work and ``--resume`` continues it, skipping what is done.

Exit status (``exit_status``): ``EXIT_ALL`` (0) every input was processed, ``EXIT_PARTIAL`` (3)
some failed and the rest is written, ``EXIT_NOTHING`` (1) nothing could be processed (also for
bad options; 2 is the command line parser's own status for unknown options).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from heatmark.errors import DataError, HeatmarkError
from heatmark.predict.inputs import InputItem, expand_inputs
from heatmark.predict.output import (
    ImageRecord,
    Journal,
    detections_document,
    write_json,
    write_per_face,
)
from heatmark.predict.photos import Photo, read_photo
from heatmark.predict.predictor import Predictor

EXIT_ALL = 0
EXIT_NOTHING = 1
EXIT_PARTIAL = 3
FORMATS = ("json", "jsonl", "pts", "csv")
PER_FACE_JOURNAL = "predict.partial.jsonl"  # the journal of a pts/csv run, in its folder
INPUT_ERRORS = (HeatmarkError, OSError, cv2.error, MemoryError, ValueError)
"""What failing on one input may raise; anything else is a bug and stops the run."""


@dataclass
class PredictOptions:
    """Where results go and how videos are followed."""

    out: Path | None = None
    format: str = "json"  # json | jsonl | pts | csv
    draw: Path | None = None
    video_out: Path | None = None
    smooth: bool = False
    redetect_every: int = 10
    resume: bool = False


@dataclass
class PredictSummary:
    """What a run did: images/frames written (this run and resumed), inputs that failed."""

    records: list[ImageRecord] = field(default_factory=list)
    resumed: int = 0
    failures: dict[str, dict[str, str]] = field(default_factory=dict)
    inputs: int = 0

    @property
    def exit_status(self) -> int:
        """``EXIT_ALL``, ``EXIT_PARTIAL`` or ``EXIT_NOTHING`` (module docstring)."""
        if not self.failures:
            return EXIT_ALL
        return EXIT_PARTIAL if self.records or self.resumed else EXIT_NOTHING


def _check_outputs(options: PredictOptions, items: list[InputItem]) -> None:
    if options.format not in FORMATS:
        raise HeatmarkError(f"--format must be one of {', '.join(FORMATS)}, got {options.format!r}")
    if options.format in ("json", "jsonl") and options.out is not None:
        if options.out.is_dir():
            raise DataError(options.out, f"is a folder: give a .{options.format} file")
        if options.out.suffix.lower() != f".{options.format}":
            raise DataError(
                options.out, f"the {options.format} output needs a .{options.format} name"
            )
    if options.format in ("jsonl", "pts", "csv") and options.out is None:
        what = "FILE.jsonl" if options.format == "jsonl" else "DIR (one file per face)"
        raise HeatmarkError(f"--format {options.format} writes as it goes: give --out {what}")
    if options.resume and options.out is None:
        raise HeatmarkError("--resume continues the run that writes --out: give --out")
    if options.video_out is not None:
        videos = [item for item in items if item.is_video]
        if len(videos) != 1:
            raise HeatmarkError(
                f"--video-out writes one annotated video: give exactly one video input "
                f"(got {len(videos)})"
            )
        if options.video_out.suffix.lower() not in (".mp4", ".avi"):
            raise DataError(options.video_out, "--video-out must end in .mp4 or .avi")


def journal_path(options: PredictOptions) -> Path | None:
    """Where the run's journal goes (None: printing JSON to stdout, nothing to journal)."""
    if options.out is None:
        return None
    if options.format == "jsonl":
        return options.out
    if options.format == "json":
        return options.out.with_name(options.out.name + ".partial.jsonl")
    return options.out / PER_FACE_JOURNAL


def _previous_json(options: PredictOptions, journal: Journal) -> None:
    """On ``--resume`` after a finished JSON run, take its images as done too."""
    if options.format != "json" or options.out is None or not options.out.is_file():
        return
    try:
        document = json.loads(options.out.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return
    for key, entry in (document.get("images") or {}).items():
        journal.done.setdefault(key, entry)


def run_predict(
    inputs: list[str], predictor: Predictor, options: PredictOptions, console: Console
) -> PredictSummary:
    """Run ``predictor`` on every input and write the outputs (module docstring)."""
    items = expand_inputs(inputs)
    _check_outputs(options, items)
    header = _header(predictor)
    path = journal_path(options)
    journal = Journal(path, header, options.resume) if path is not None else None
    summary = PredictSummary(inputs=len(items))
    if journal is not None and options.resume:
        _previous_json(options, journal)
        done = journal.done
        before = len(items)
        items = [
            item
            for item in items
            if not (item.key in done or (item.is_video and _video_done(item.key, done)))
        ]
        summary.resumed = before - len(items)
        console.print(
            f"resuming {path}: {summary.resumed} of {before} inputs done, {len(items)} to go",
            highlight=False,
        )
    started = time.monotonic()
    try:
        _run_items(items, predictor, options, console, journal, summary)
    finally:
        if journal is not None:
            journal.close()
    if journal is not None:
        summary.failures = dict(journal.failed)
    _finish(options, summary, journal, header, path)
    _report(summary, options, console, time.monotonic() - started)
    return summary


def _run_items(
    items: list[InputItem],
    predictor: Predictor,
    options: PredictOptions,
    console: Console,
    journal: Journal | None,
    summary: PredictSummary,
) -> None:
    images = [item for item in items if not item.is_video]
    videos = [item for item in items if item.is_video]

    def fail(item: InputItem, error: BaseException) -> None:
        reason = _reason(error, item.path)
        summary.failures[item.key] = {"key": item.key, "path": str(item.path), "reason": reason}
        if journal is not None:
            journal.add_failure(item.key, str(item.path), reason)
        console.print(f"[yellow]skipped:[/] {item.path}: {reason}", highlight=False)

    def keep(records: list[ImageRecord]) -> None:
        summary.records += records
        if journal is not None:
            for record in records:
                journal.add(record)
        if options.format in ("pts", "csv"):
            write_per_face(options.out, records, options.format)

    faces_done, started = 0, time.monotonic()
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
            readable: list[tuple[InputItem, Photo]] = []
            for item in chunk:
                try:
                    readable.append((item, read_photo(item.path)))
                except INPUT_ERRORS as error:
                    fail(item, error)
            records = _landmark_photos(readable, predictor, options, fail)
            keep(records)
            faces_done += sum(len(record.faces) for record in records)
            rate = faces_done / max(time.monotonic() - started, 1e-9)
            progress.update(task, advance=len(chunk), rate=rate)
        for item in videos:
            try:
                records = _run_video(item, predictor, options, progress)
            except INPUT_ERRORS as error:
                fail(item, error)
                continue
            keep(records)


def _landmark_photos(
    readable: list[tuple[InputItem, Photo]], predictor: Predictor, options: PredictOptions, fail
) -> list[ImageRecord]:
    """Landmarks of a batch of decoded photos; when the batch fails, photo by photo, so that
    one bad photo fails alone."""
    if not readable:
        return []
    try:
        found = predictor.predict_batch(
            [photo.rgb for _, photo in readable], paths=[item.path for item, _ in readable]
        )
    except INPUT_ERRORS:
        if len(readable) == 1:
            raise
        records = []
        for pair in readable:
            try:
                records += _landmark_photos([pair], predictor, options, fail)
            except INPUT_ERRORS as error:
                fail(pair[0], error)
        return records
    records = []
    for (item, photo), faces in zip(readable, found, strict=True):
        photo.to_original(faces)
        records.append(ImageRecord(item.key, str(item.path), photo.size, faces))
        if options.draw is not None:
            _draw(options.draw / f"{item.key}.jpg", photo, faces)
    return records


def _reason(error: BaseException, path: Path) -> str:
    """The error's message without the input's path (the record names it already)."""
    if isinstance(error, DataError) and error.path == Path(path):
        return error.reason
    if isinstance(error, MemoryError):
        return "out of memory while processing it"
    if isinstance(error, cv2.error):
        text = str(error).strip().splitlines()
        return f"OpenCV error: {text[-1] if text else 'unknown'}"
    message = str(error)
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _video_done(key: str, done: dict) -> bool:
    return any(name.startswith(f"{key}/") for name in done)


def _finish(
    options: PredictOptions,
    summary: PredictSummary,
    journal: Journal | None,
    header: dict,
    path: Path | None,
) -> None:
    """Write the final JSON (from the journal, so resumed images are included)."""
    failures = list(summary.failures.values())
    if options.format != "json":
        if options.format in ("pts", "csv") and path is not None:
            (options.out / "failures.json").write_text(json.dumps(failures, indent=1) + "\n")
        return
    if options.out is None:
        document = detections_document(summary.records, header, failures)
        json.dump(document, sys.stdout, allow_nan=False)
        sys.stdout.write("\n")
        return
    assert journal is not None and path is not None
    write_json(options.out, journal.done, header, failures)
    path.unlink(missing_ok=True)


def _report(
    summary: PredictSummary, options: PredictOptions, console: Console, elapsed: float
) -> None:
    records = summary.records
    missed = [record.key for record in records if not record.faces]
    if missed:
        console.print(
            f"[yellow]no face found[/] in {len(missed)} of {len(records)} images/frames "
            f"(first: {missed[0]}); they are listed with an empty face list",
            highlight=False,
        )
    total_faces = sum(len(record.faces) for record in records)
    line = (
        f"{len(records)} images/frames, {total_faces} faces in {elapsed:.1f} s "
        f"({total_faces / max(elapsed, 1e-9):.1f} faces/s)"
    )
    if summary.resumed:
        line += f"; {summary.resumed} inputs done before (--resume)"
    if summary.failures:
        line += f"; [yellow]{len(summary.failures)} of {summary.inputs} inputs failed[/]"
        line += " (listed under 'failures')"
    if options.out:
        line += f"; written to {options.out}"
    console.print(line, highlight=False)
    if summary.exit_status == EXIT_NOTHING:
        reasons = [f"{f['path']}: {f['reason']}" for f in summary.failures.values()]
        console.print(
            "[bold red]error:[/] nothing could be processed: " + "; ".join(reasons[:3]),
            highlight=False,
        )


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


def _draw(path: Path, photo: Photo, faces) -> None:
    from heatmark.predict.draw import draw_faces

    path.parent.mkdir(parents=True, exist_ok=True)
    if photo.factor != 1:  # draw on the decoded pixels: faces back to them
        shown = [
            type(face)(
                (face.points + 0.5) / photo.factor - 0.5,
                face.scores,
                (face.box + 0.5) / photo.factor - 0.5,
                face.detector_score,
            )
            for face in faces
        ]
    else:
        shown = faces
    annotated = draw_faces(photo.rgb, shown)
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
