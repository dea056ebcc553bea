"""The robustness suite: several models x several perturbation protocols, one result.

For each protocol every sample's image is perturbed once (``apply_protocol``, deterministic per
(protocol, sample key)), so every model sees the same perturbed pixels. Each model then runs on
crops of one box protocol for all (``heatmark.robustness.boxes``: ``gt``, the tight box of the
ground-truth points its scheme shares, by default; ``dataset``; ``detector``), enlarged by the
model's own ``enlarge`` as ``LandmarkDataset`` crops, and its points, mapped back to the original
image, are scored with the data scheme's usual normaliser (inter-ocular for 68 / 98 / 29 points,
the box size for AFLW), as in Yan et al. (2D Wasserstein loss for robust facial landmark
detection, PR 2021):

- NME, FR_I@0.1 (image-wise failure rate), FR_L@0.1 / 0.15 / 0.2 (landmark-wise failure
  rates) and AUC@0.1 (of the image NMEs), plus the (N, K) landmark errors.

A model is a ``LandmarkModel`` (its decoding, GET_MAX "max" or GET_BC "barycenter", is read
from its description), a ``Landmarker`` (another tool run in-process, e.g. dlib's predictor from
``heatmark.baselines``: image + landmark box -> points), or a folder of predictions made
elsewhere: ``FOLDER/<protocol>/``
holds that protocol's predictions for the samples, as a ``.pts`` tree or one heatmark JSON file
(``FOLDER/<protocol>.json`` is accepted too), keyed by ``prediction_keys(samples, root)`` (as
``heatmark robustness export`` writes them); its decoding is reported as ``"files"``.

Cross-dataset: a model may predict another scheme than the data's when an index map joins them
(``heatmark.robustness.cross_dataset``); its points are rearranged into the data's order and only
the common points are scored (the normaliser still comes from the full ground truth).

Sequence protocols (temporal blur: ``blur-medium``, ``blur-large``) only apply to samples that
are video frames (``frame_index`` set): frames are grouped by video file, ordered by frame
index, and each gets its sequence's ground-truth points and its position ``t`` in it. Still
images are left out of those protocols (the result says so in ``notes``); a protocol with no
frame at all is skipped.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from heatmark.data.dataset import LandmarkDataset
from heatmark.data.readers.files import read_json
from heatmark.data.readers.predictions import key_layouts, prediction_keys
from heatmark.data.readers.pts import read_pts
from heatmark.data.sample import Sample
from heatmark.errors import DataError
from heatmark.evaluate.cross_scheme import to_ground_truth_scheme
from heatmark.evaluate.evaluation import evaluate_samples
from heatmark.evaluate.inference import predict_dataset
from heatmark.evaluate.metrics import Normaliser, default_normaliser, failure_rate_landmarks
from heatmark.models.landmark_model import LandmarkModel
from heatmark.robustness.boxes import (
    BOX_DESCRIPTIONS,
    MIN_IOU,
    BoxProtocol,
    DetectorBoxes,
    FaceBoxes,
    common_indices,
    dataset_boxes,
    gt_boxes,
)
from heatmark.robustness.export import sequence_positions
from heatmark.robustness.perturbations import PROTOCOLS, perturb
from heatmark.schemes import Scheme

THRESHOLD = 0.1
FR_L_THRESHOLDS = (0.1, 0.15, 0.2)
"""Protocols that need a sequence of frames (when the protocol does not say so itself)."""
EXAMPLES = 4
"""Perturbed images kept per protocol for the report's example grid."""
DECODING_NAMES = {"GET_MAX": "max", "GET_BC": "barycenter"}


class Landmarker(Protocol):
    """Another tool's landmark detector run in-process: (RGB image, landmark box) -> (K, 2)."""

    scheme: Scheme
    label: str

    def __call__(self, rgb: np.ndarray, landmark_box: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class ModelEntry:
    """A model of the suite: a ``LandmarkModel``, a ``Landmarker``, or ``predictions``, a folder
    holding one subfolder (or ``<protocol>.json``) of predictions per protocol."""

    name: str
    model: LandmarkModel | None = None
    predictions: Path | None = None
    landmarker: Landmarker | None = None

    def __post_init__(self) -> None:
        given = [x is not None for x in (self.model, self.predictions, self.landmarker)]
        if sum(given) != 1:
            raise ValueError(
                f"model entry {self.name!r}: give exactly one of a model, a landmarker or "
                "predictions"
            )
        if self.predictions is not None:
            object.__setattr__(self, "predictions", Path(self.predictions))

    def scheme(self, data_scheme: Scheme) -> Scheme:
        """The scheme the entry predicts (prediction files follow the data's)."""
        if self.model is not None:
            return self.model.scheme
        if self.landmarker is not None:
            return self.landmarker.scheme
        return data_scheme

    @property
    def decoding(self) -> str:
        """``max`` (GET_MAX), ``barycenter`` (GET_BC), ``files`` for predictions, or the other
        tool's name."""
        if self.landmarker is not None:
            return self.landmarker.label
        if self.model is None:
            return "files"
        decoding = self.model.description.decoding
        label = DECODING_NAMES.get(decoding.name, decoding.value)
        if self.model.description.softmax:
            label += " (softmax)"
        return label

    @property
    def source(self) -> str:
        if self.landmarker is not None:
            return f"{type(self.landmarker).__name__} ({self.landmarker.scheme.name})"
        if self.model is None:
            return f"predictions in {self.predictions}"
        d = self.model.description
        return f"model ({d.scheme}, {d.input_size} px input, enlarge {d.enlarge:g})"


@dataclass
class Cell:
    """One model on one protocol."""

    model: str
    protocol: str
    decoding: str
    points: np.ndarray  # (n, K, 2) predictions in original pixels, n = evaluated samples
    errors: np.ndarray  # (n, K) normalised landmark errors (NaN: not scored, inf: missed face)
    nme_images: np.ndarray  # (n,)
    nme: float
    fr_images: float  # FR_I@0.1
    fr_landmarks: dict[float, float]  # FR_L@t for t in FR_L_THRESHOLDS
    auc_images: float  # AUC@0.1 of the image NMEs
    scored: np.ndarray | None = None  # (K,) landmarks with a twin in the model's scheme
    detection_rate: float | None = None  # box protocol "detector": faces found

    def per_landmark_failure(self, threshold: float = THRESHOLD) -> np.ndarray:
        """(K,) fraction of the images where each landmark's error exceeds ``threshold``."""
        valid = ~np.isnan(self.errors)
        failures = np.where(valid, self.errors > threshold, False).sum(axis=0)
        return failures / np.maximum(valid.sum(axis=0), 1)

    def summary(self) -> dict[str, Any]:
        """The headline numbers, as fractions (None where not finite)."""
        return {
            "decoding": self.decoding,
            "images": int(self.errors.shape[0]),
            **({} if self.scored is None else {"landmarks_scored": int(self.scored.sum())}),
            **({} if self.detection_rate is None else {"detection_rate": self.detection_rate}),
            "nme": _finite(self.nme),
            "fr_images@0.1": _finite(self.fr_images),
            **{f"fr_landmarks@{t:g}": _finite(v) for t, v in self.fr_landmarks.items()},
            "auc_images@0.1": _finite(self.auc_images),
        }


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


@dataclass
class ProtocolRun:
    """What one protocol was run on."""

    name: str
    indices: np.ndarray  # the samples (indices into SuiteResult.samples) evaluated
    note: str = ""
    covered: float | None = None
    """Mean fraction of landmarks covered by the occluder, when the perturbation says."""
    examples: list[tuple[int, np.ndarray]] = field(default_factory=list)
    """(sample index, perturbed image) of the first few samples, for the report."""
    seconds: float = 0.0


@dataclass
class SuiteResult:
    models: list[str]
    decodings: dict[str, str]
    sources: dict[str, str]
    samples: list[Sample]
    protocols: list[ProtocolRun]
    cells: dict[tuple[str, str], Cell]
    skipped: dict[str, str] = field(default_factory=dict)
    box_protocol: str = BoxProtocol.GT.value
    normaliser: str = Normaliser.INTER_OCULAR.value
    threshold: float = THRESHOLD
    seconds: float = 0.0
    cross_dataset: str | None = None
    """The named cross-dataset protocol (``heatmark.robustness.cross_dataset``), if any."""
    model_schemes: dict[str, str] = field(default_factory=dict)
    detector: str | None = None
    """The face detector of the ``detector`` box protocol (None for the others)."""
    detection_rates: dict[str, float] = field(default_factory=dict)
    """Per protocol: the fraction of faces the detector found (``detector`` box protocol)."""

    @property
    def box_description(self) -> str:
        return BOX_DESCRIPTIONS[BoxProtocol(self.box_protocol)].format(
            iou=MIN_IOU, detector=self.detector
        )

    @property
    def scheme(self) -> str:
        return self.samples[0].scheme.name

    def cell(self, model: str, protocol: str) -> Cell:
        return self.cells[(model, protocol)]

    def to_dict(self) -> dict[str, Any]:
        """Everything but arrays, for ``metrics.json`` (metrics are fractions)."""
        return {
            "format": "heatmark-robustness",
            "version": 1,
            "box_protocol": self.box_protocol,
            "box": self.box_description,
            **({} if self.detector is None else {"detector": self.detector}),
            **({"detection_rates": self.detection_rates} if self.detection_rates else {}),
            **({} if self.cross_dataset is None else {"cross_dataset": self.cross_dataset}),
            "normaliser": self.normaliser,
            "threshold": self.threshold,
            "scheme": self.scheme,
            "samples": len(self.samples),
            "seconds": round(self.seconds, 3),
            "models": {
                name: {
                    "decoding": self.decodings[name],
                    "source": self.sources[name],
                    "scheme": self.model_schemes.get(name, self.scheme),
                }
                for name in self.models
            },
            "protocols": {
                run.name: {
                    "images": int(run.indices.size),
                    **({"note": run.note} if run.note else {}),
                    **({} if run.covered is None else {"covered_fraction": run.covered}),
                    "metrics": {m: self.cells[(m, run.name)].summary() for m in self.models},
                }
                for run in self.protocols
            },
            "skipped": dict(self.skipped),
        }


def _perturb(
    name: str,
    sample: Sample,
    key: str,
    sequence: tuple[np.ndarray, int] | None,
) -> tuple[np.ndarray, float | None]:
    """The perturbed image and, for occlusions, the fraction of landmarks covered."""
    options: dict[str, Any] = {}
    if sequence is not None:
        options = {"sequence_points": sequence[0], "t": sequence[1]}
    result = perturb(name, sample.load_image(), sample.points, sample.scheme, key, **options)
    return result.image, result.covered


def prediction_source(folder: Path, protocol: str) -> Path:
    """Where a predictions entry keeps ``protocol``'s predictions: ``FOLDER/<protocol>/``
    (a ``.pts`` tree, or a folder with one ``.json`` file) or ``FOLDER/<protocol>.json``."""
    sub = folder / protocol
    if sub.is_dir():
        jsons = sorted(sub.glob("*.json"))
        has_pts = any(sub.rglob("*.pts"))
        if len(jsons) == 1 and not has_pts:
            return jsons[0]
        return sub
    single = folder / f"{protocol}.json"
    if single.is_file():
        return single
    raise DataError(folder, f"no predictions for protocol {protocol!r} ({sub}/ or {single.name})")


def read_protocol_predictions(
    folder: Path,
    protocol: str,
    samples: Sequence[Sample],
    indices: np.ndarray,
    root: Path | None = None,
) -> np.ndarray:
    """(n, K, 2) predictions of ``samples[indices]`` for ``protocol`` from a predictions
    folder. Keys are those of the whole sample list (``prediction_keys(samples, root)``, or the
    common-folder layout), so a protocol run on a subset reads the same names."""
    source = prediction_source(Path(folder), protocol)
    layouts = key_layouts(samples, root)
    if source.is_dir():
        keys = next(
            (ks for ks in layouts if all((source / f"{ks[i]}.pts").is_file() for i in indices)),
            layouts[0],
        )
        points = [read_pts(source / f"{keys[i]}.pts") for i in indices]
    else:
        from heatmark.evaluate.prediction_file import FORMAT

        payload = read_json(source, "prediction file")
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise DataError(source, f'not a heatmark predictions file (needs "format": "{FORMAT}")')
        table = payload.get("predictions")
        if not isinstance(table, dict):
            raise DataError(source, '"predictions" must map sample keys to point lists')
        keys = next((ks for ks in layouts if all(ks[i] in table for i in indices)), layouts[0])
        points = []
        for i in indices:
            if keys[i] not in table:
                raise DataError(source, f"no prediction for sample {keys[i]!r}")
            value = np.asarray(table[keys[i]], dtype=np.float64)
            if value.ndim != 2 or value.shape[1] != 2 or not np.isfinite(value).all():
                raise DataError(source, f"prediction {keys[i]!r} is not a list of finite [x, y]")
            points.append(value)
    expected = samples[0].scheme.num_points
    for i, value in zip(indices, points, strict=True):
        if value.shape != (expected, 2):
            raise DataError(
                source, f"prediction {layouts[0][i]!r} has {len(value)} points, expected {expected}"
            )
    return np.stack(points) if points else np.zeros((0, expected, 2))


def _score(
    entry: ModelEntry,
    protocol: str,
    points: np.ndarray,
    subset: list[Sample],
    normaliser: Normaliser,
    found: np.ndarray | None = None,
) -> Cell:
    """Score (n, Ke, 2) points of the entry's scheme against the data's ground truth."""
    data_scheme = subset[0].scheme
    aligned, mask = to_ground_truth_scheme(points, entry.scheme(data_scheme), data_scheme)
    detected = None if found is None or found.all() else found
    evaluation = evaluate_samples(
        aligned, subset, normaliser, THRESHOLD, mask=mask, detected=detected
    )
    errors = evaluation.errors
    return Cell(
        model=entry.name,
        protocol=protocol,
        decoding=entry.decoding,
        points=aligned,
        errors=errors,
        nme_images=evaluation.nme_images,
        nme=evaluation.nme,
        fr_images=evaluation.fr_images,
        fr_landmarks={t: failure_rate_landmarks(errors, t) for t in FR_L_THRESHOLDS},
        auc_images=evaluation.auc_images,
        scored=None if mask is None else mask[0].copy(),
        detection_rate=None if found is None else float(np.mean(found)),
    )


def _boxes(
    box: BoxProtocol,
    scheme: Scheme,
    perturbed: list[Sample],
    detections: FaceBoxes | None,
) -> FaceBoxes:
    if box is BoxProtocol.GT:
        return gt_boxes(perturbed, scheme)
    if box is BoxProtocol.DATASET:
        return dataset_boxes(perturbed)
    assert detections is not None
    return detections


def _run_entry(
    entry: ModelEntry,
    perturbed: list[Sample],
    boxes: FaceBoxes,
    batch_size: int,
    device: str,
) -> np.ndarray:
    """(n, Ke, 2) points of a model or landmarker entry on crops of ``boxes``."""
    if entry.landmarker is not None:
        return np.stack(
            [
                entry.landmarker(sample.load_image(), box)
                for sample, box in zip(perturbed, boxes.boxes, strict=True)
            ]
        )
    assert entry.model is not None
    d = entry.model.description
    boxed = [dataclasses.replace(s, box=b) for s, b in zip(perturbed, boxes.boxes, strict=True)]
    dataset = LandmarkDataset(boxed, d.input_size, None, d.enlarge, use_dataset_box=True)
    points, _ = predict_dataset(entry.model, dataset, batch_size, device=device)
    return points


def check_schemes(entries: Sequence[ModelEntry], data_scheme: Scheme) -> dict[str, str]:
    """Entry name -> the scheme it predicts; ``ValueError`` naming the entry when its scheme
    and the data's share no known index map."""
    schemes = {}
    for entry in entries:
        scheme = entry.scheme(data_scheme)
        try:
            common_indices(scheme, data_scheme)
        except ValueError:
            raise ValueError(
                f"model {entry.name!r} predicts {scheme.name} points and the samples follow "
                f"{data_scheme.name}; no index map joins the two schemes"
            ) from None
        schemes[entry.name] = scheme.name
    return schemes


def run_suite(
    entries: Sequence[ModelEntry],
    samples: Sequence[Sample],
    protocols: Sequence[str],
    root: Path | None = None,
    batch_size: int = 16,
    progress: bool = True,
    device: str = "cpu",
    box: BoxProtocol | str = BoxProtocol.GT,
    normaliser: Normaliser | None = None,
    cross_dataset: str | None = None,
    detector: str | None = None,
) -> SuiteResult:
    """Run every entry on every protocol (see the module docstring); ``root`` is the dataset
    folder prediction keys are relative to (as for ``heatmark eval``). ``box``: the box protocol
    (``heatmark.robustness.boxes``); ``normaliser`` None: the data scheme's usual one;
    ``cross_dataset``: the name of the cross-dataset protocol the run is, for the report;
    ``detector``: the ``--detector`` spec of the ``detector`` box protocol (None: the default,
    ``yunet``)."""
    started = time.perf_counter()
    samples = list(samples)
    box = BoxProtocol(box)
    if not samples:
        raise ValueError("no samples to run the robustness suite on")
    if not entries:
        raise ValueError("no model to run the robustness suite with")
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"model names must be distinct, got {names}")
    table = PROTOCOLS
    unknown = [p for p in protocols if p not in table]
    if unknown:
        raise ValueError(f"unknown protocol(s) {unknown} (known: {', '.join(table)})")
    scheme = samples[0].scheme
    model_schemes = check_schemes(entries, scheme)
    normaliser = default_normaliser(scheme) if normaliser is None else normaliser
    if box is BoxProtocol.DATASET:
        dataset_boxes(samples)  # every sample has a box, or an error before any work
    boxes_of = DetectorBoxes(detector) if box is BoxProtocol.DETECTOR else None
    keys = prediction_keys(samples, root)
    frames = sequence_positions(samples, keys)
    runs: list[ProtocolRun] = []
    cells: dict[tuple[str, str], Cell] = {}
    skipped: dict[str, str] = {}
    detection_rates: dict[str, float] = {}

    plan: list[tuple[str, np.ndarray, str]] = []
    for name in dict.fromkeys(protocols):
        if table[name].sequence:
            indices = np.array(sorted(frames), dtype=int)
            stills = len(samples) - indices.size
            if indices.size == 0:
                skipped[name] = "needs video frames; the samples are still images"
                continue
            note = f"{stills} still image(s) left out (needs video frames)" if stills else ""
        else:
            indices, note = np.arange(len(samples)), ""
        plan.append((name, indices, note))

    bar = _progress(progress)
    with bar:
        for name, indices, note in plan:
            task = bar.add_task(name, total=int(indices.size) * (1 + len(entries)))
            run_started = time.perf_counter()
            run = ProtocolRun(name, indices, note)
            predicted: dict[str, list[np.ndarray]] = {e.name: [] for e in entries}
            found: list[np.ndarray] = []
            covered: list[float] = []
            sequence = table[name].sequence
            for begin in range(0, indices.size, batch_size):
                chunk = indices[begin : begin + batch_size]
                perturbed = []
                for i in chunk:
                    image, cover = _perturb(
                        name, samples[i], keys[i], frames.get(int(i)) if sequence else None
                    )
                    if cover is not None:
                        covered.append(cover)
                    if len(run.examples) < EXAMPLES:
                        run.examples.append((int(i), image))
                    perturbed.append(dataclasses.replace(samples[i], image=image))
                    bar.advance(task)
                detections = None
                if boxes_of is not None:
                    detections = boxes_of(perturbed, [s.image for s in perturbed])
                    found.append(detections.found)
                for entry in entries:
                    if entry.predictions is not None:
                        continue
                    boxes = _boxes(box, entry.scheme(scheme), perturbed, detections)
                    points = _run_entry(entry, perturbed, boxes, batch_size, device)
                    predicted[entry.name].append(points)
                    bar.advance(task, len(chunk))
            subset = [samples[i] for i in indices]
            hits = np.concatenate(found) if found else None
            if hits is not None:
                detection_rates[name] = float(np.mean(hits))
            for entry in entries:
                if entry.predictions is not None:
                    points = read_protocol_predictions(
                        entry.predictions, name, samples, indices, root
                    )
                    bar.advance(task, int(indices.size))
                    cells[(entry.name, name)] = _score(entry, name, points, subset, normaliser)
                else:
                    points = np.concatenate(predicted[entry.name])
                    cells[(entry.name, name)] = _score(
                        entry, name, points, subset, normaliser, hits
                    )
            run.covered = float(np.mean(covered)) if covered else None
            run.seconds = time.perf_counter() - run_started
            runs.append(run)

    return SuiteResult(
        models=names,
        decodings={e.name: e.decoding for e in entries},
        sources={e.name: e.source for e in entries},
        samples=samples,
        protocols=runs,
        cells=cells,
        skipped=skipped,
        box_protocol=box.value,
        normaliser=normaliser.value,
        seconds=time.perf_counter() - started,
        cross_dataset=cross_dataset,
        model_schemes=model_schemes,
        detector=None if boxes_of is None else boxes_of.label,
        detection_rates=detection_rates,
    )


class _NoProgress:
    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *args: object, **kwargs: object) -> int:
        return 0

    def advance(self, *args: object, **kwargs: object) -> None:
        return None


def _progress(enabled: bool) -> Any:
    if not enabled:
        return _NoProgress()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
