"""Scoring a finished run: its ``last`` checkpoint on the hold-out, once per decoding, and under
the robustness protocols its row lists.

The last epoch is scored, not ``best``: ``best`` is picked on the same hold-out, which would
make it a tuned number. Every decoding is the same network with another ``ModelDescription``
decoding (GET_MAX or GET_BC with the training loss's softmax and temperature), as
``heatmark eval --decoding`` does. Results go to ``evaluation.json`` in the run folder, with the
per-image NMEs the results page draws its CED curves from.

The cross-domain protocol (``grid.CROSS_DOMAIN``) is the clean protocol on rendered faces. A run
recorded before its row gained a protocol is scored under the missing ones only, on the same
weights (``missing_protocols``, ``evaluate_run(previous=...)``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from heatmark.codec import Decoding
from heatmark.data.dataset import LandmarkDataset
from heatmark.data.readers.auto import load_dataset
from heatmark.data.sample import Sample
from heatmark.data.synthetic import cross_domain_faces, synthetic_faces
from heatmark.evaluate.evaluation import evaluate_samples
from heatmark.evaluate.inference import predict_dataset
from heatmark.evaluate.metrics import Normaliser
from heatmark.models.checkpoint import load_landmark_model
from heatmark.models.landmark_model import LandmarkModel
from heatmark.reproduce.grid import CROSS_DOMAIN
from heatmark.train.config import Config

EVALUATION = "evaluation.json"
FORMAT = "heatmark-reproduce-evaluation"
THRESHOLD = 0.1
SYNTHETIC_VAL_SEED = 10_000
"""Synthetic runs are all scored on seed 0's validation faces (training uses seed + 10000)."""


def evaluation_samples(config: Config) -> tuple[list[Sample], Path | None]:
    """The faces every run of a grid is scored on, and their dataset folder: the hold-out
    folder (``data.val``) for real data, seed 0's synthetic validation faces otherwise."""
    data = config.data
    if data.train == "synthetic":
        faces = synthetic_faces(
            data.synthetic_val_count, seed=SYNTHETIC_VAL_SEED, size=data.input_size
        )
        return faces, None
    assert data.val is not None, "grid runs name their hold-out folder in data.val"
    return load_dataset(Path(data.val)), Path(data.val)


def checkpoint_digest(run_dir: Path) -> str:
    """SHA-256 of the run's ``last`` weights: an evaluation is current while it matches."""
    digest = hashlib.sha256()
    with (run_dir / "last.safetensors").open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stat(path: Path) -> list[int]:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns]


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _metrics(evaluation: Any) -> dict[str, Any]:
    return {
        "nme": _finite(evaluation.nme),
        "fr_images": _finite(evaluation.fr_images),
        "fr_landmarks": _finite(evaluation.fr_landmarks),
        "auc_images": _finite(evaluation.auc_images),
        "auc_landmarks": _finite(evaluation.auc_landmarks),
        "nme_images": [_finite(v) for v in evaluation.nme_images],
    }


def decoded(model: LandmarkModel, decoding: Decoding) -> LandmarkModel:
    """The same network decoding with ``decoding`` (the training loss's softmax kept)."""
    if decoding is model.description.decoding:
        return model
    described = LandmarkModel(model.network, replace(model.description, decoding=decoding))
    described.terms = model.terms
    return described


def missing_protocols(
    evaluation: dict[str, Any] | None, decodings: Sequence[Decoding], protocols: Sequence[str]
) -> list[str]:
    """The ``protocols`` that ``evaluation`` lacks for some decoding (all of them for None)."""
    if not evaluation:
        return list(protocols)
    robustness = evaluation.get("robustness") or {}
    return [
        protocol
        for protocol in protocols
        if any(protocol not in (robustness.get(d.value) or {}) for d in decodings)
    ]


@functools.lru_cache(maxsize=1)
def _cross_domain_faces() -> tuple[Sample, ...]:
    """Rendered once per process: every run of a grid is scored on the same faces."""
    return tuple(cross_domain_faces())


def evaluate_run(
    run_dir: Path,
    decodings: Sequence[Decoding],
    protocols: Sequence[str],
    samples: Sequence[Sample],
    root: Path | None,
    device: str = "cpu",
    batch_size: int = 16,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score ``run_dir/last`` and write ``evaluation.json``; returns what it wrote.

    ``previous``: an evaluation of the same weights; its results are kept and only what it
    lacks (decodings, protocols) is scored."""
    from heatmark.robustness.suite import ModelEntry, run_suite

    started = time.perf_counter()
    meta = json.loads((run_dir / "last.json").read_text())
    base = load_landmark_model(run_dir / "last")
    base.to(device)
    samples = list(samples)
    previous = previous or {}
    results: dict[str, Any] = dict(previous.get("decodings") or {})
    for decoding in decodings:
        if decoding.value in results:
            continue
        model = decoded(base, decoding)
        d = model.description
        dataset = LandmarkDataset(samples, d.input_size, None, d.enlarge)
        points, _ = predict_dataset(model, dataset, batch_size=batch_size, device=device)
        evaluation = evaluate_samples(points, samples, Normaliser.INTER_OCULAR, THRESHOLD)
        results[decoding.value] = _metrics(evaluation)
    robustness: dict[str, Any] = {
        decoding: dict(cells) for decoding, cells in (previous.get("robustness") or {}).items()
    }
    missing = missing_protocols(previous or None, decodings, protocols)
    entries = [ModelEntry(d.value, model=decoded(base, d)) for d in decodings]
    groups: list[tuple[Sequence[Sample], list[str], Path | None, str | None]] = [
        (samples, [p for p in missing if p != CROSS_DOMAIN], root, None)
    ]
    if CROSS_DOMAIN in missing:  # the clean protocol, on the rendered faces
        groups.append((_cross_domain_faces(), ["clean"], None, CROSS_DOMAIN))
    for faces, names, folder, label in groups:
        if not names:
            continue
        suite = run_suite(
            entries,
            list(faces),
            names,
            root=folder,
            batch_size=batch_size,
            progress=False,
            device=device,
        )
        for decoding in decodings:
            for run in suite.protocols:
                cell = suite.cell(decoding.value, run.name)
                summary = cell.summary()
                summary["nme_images"] = [_finite(v) for v in cell.nme_images]
                robustness.setdefault(decoding.value, {})[label or run.name] = summary
    weights = run_dir / "last.safetensors"
    payload = {
        "format": FORMAT,
        "version": 1,
        "checkpoint": "last",
        "epoch": meta["epoch"],
        "sha256": checkpoint_digest(run_dir),
        "stat": _stat(weights),
        "images": len(samples),
        "normaliser": Normaliser.INTER_OCULAR.value,
        "threshold": THRESHOLD,
        "decodings": results,
        "robustness": robustness,
        "seconds": round(time.perf_counter() - started + (previous.get("seconds") or 0.0), 2),
    }
    path = run_dir / EVALUATION
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(payload, allow_nan=False) + "\n")
    temporary.replace(path)
    return payload


def read_evaluation(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``evaluation.json`` if it is readable and scores the current ``last``."""
    path = run_dir / EVALUATION
    if not path.is_file() or not (run_dir / "last.safetensors").is_file():
        return None
    try:
        payload = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        return None
    if payload.get("stat") == _stat(run_dir / "last.safetensors"):
        return payload  # the file is untouched since it was scored: skip hashing it
    if payload.get("sha256") != checkpoint_digest(run_dir):
        return None
    return payload
