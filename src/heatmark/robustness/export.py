"""Export a perturbed copy of a dataset, so any landmark tool can be tested on it.

``export_protocol`` writes ``OUT/<key>.png`` (the perturbed image) and ``OUT/<key>.pts`` (its
ground truth, unchanged: perturbations move no pixel) for every sample, ``<key>`` as in
``prediction_keys(samples, root)``: a 300-W style tree that ``load_dataset`` reads back and
``heatmark eval --pred PRED --gt OUT`` scores. ``OUT/protocol.json`` records the protocol, its
parameters, the sample count and, for occlusions, the fraction of landmarks covered.

Sequence protocols (``blur-medium``, ``blur-large``) need video frames. A sequence is either the
frames of one video file (samples with ``frame_index``), ordered by frame index, or the images of
one folder whose file names are frame numbers (``001/imgs/000006.jpg``, extracted 300-VW
frames), ordered by key; in both cases within one ``subset``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from heatmark.data.readers.predictions import prediction_keys
from heatmark.data.readers.pts import write_pts
from heatmark.data.sample import Sample
from heatmark.errors import DataError, HeatmarkError
from heatmark.robustness.perturbations import get_protocol, perturb

PROTOCOL_FILE = "protocol.json"


def sequence_positions(
    samples: Sequence[Sample], keys: Sequence[str]
) -> dict[int, tuple[np.ndarray, int]]:
    """For each sample that is a frame of a sequence (rules in the module docstring): its
    sequence's (T, K, 2) ground truth and its position ``t`` in it, by sample index."""
    groups: dict[tuple[str, str, str], list[int]] = {}
    for index, sample in enumerate(samples):
        path = sample.image_path
        if path is None:
            continue
        if sample.frame_index is not None:
            group = ("video", str(path), sample.subset)
        elif Path(path).stem.isdigit():
            group = ("folder", str(Path(path).parent), sample.subset)
        else:
            continue
        groups.setdefault(group, []).append(index)
    found: dict[int, tuple[np.ndarray, int]] = {}
    for (kind, _, _), members in groups.items():
        if kind == "video":
            members.sort(key=lambda i: (samples[i].frame_index, keys[i]))
        else:
            members.sort(key=lambda i: keys[i])
        points = np.stack([samples[i].points for i in members])
        for t, index in enumerate(members):
            found[index] = (points, t)
    return found


def write_png(path: Path, image: np.ndarray) -> Path:
    """Write an RGB uint8 image as PNG (parent folders are created; any path OpenCV can't)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise DataError(path, "OpenCV could not PNG-encode the image")
    data.tofile(str(path))
    return path


def export_protocol(
    samples: Sequence[Sample],
    protocol: str,
    out_dir: Path,
    root: Path | None = None,
) -> list[Path]:
    """Write the samples perturbed by ``protocol`` as a 300-W style tree under ``out_dir``
    (layout in the module docstring); returns the image paths, in sample order.

    ``root`` is the dataset folder the keys are relative to (as for ``heatmark eval``). A
    sequence protocol refuses samples that are not frames of a sequence.
    """
    chosen = get_protocol(protocol)
    out_dir = Path(out_dir)
    keys = prediction_keys(samples, root)
    positions = sequence_positions(samples, keys) if chosen.sequence else {}
    if chosen.sequence:
        loose = [i for i in range(len(samples)) if i not in positions]
        if loose:
            first = samples[loose[0]]
            raise DataError(
                first.source or keys[loose[0]],
                f"{protocol} needs video frames (a video's frames, or numbered images in one "
                f"folder), and {len(loose)} of {len(samples)} samples are not; use "
                "blur-random-* for still images",
            )
    written: list[Path] = []
    covered: dict[str, float] = {}
    for index, (sample, key) in enumerate(zip(samples, keys, strict=True)):
        sequence_points, t = positions.get(index, (None, None))
        result = perturb(
            protocol, sample.load_image(), sample.points, sample.scheme, key, sequence_points, t
        )
        written.append(write_png(out_dir / f"{key}.png", result.image))
        write_pts(out_dir / f"{key}.pts", sample.points)
        if result.covered is not None:
            covered[key] = result.covered
    summary: dict[str, object] = {
        "protocol": protocol,
        "description": chosen.description,
        "parameters": dict(chosen.parameters),
        "sequence": chosen.sequence,
        "count": len(samples),
        "seed": "sha256(protocol + NUL + key), first 16 bytes little-endian",
    }
    if covered:
        summary["covered_fraction_mean"] = float(np.mean(list(covered.values())))
        summary["covered_fraction"] = covered
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / PROTOCOL_FILE).write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
    except OSError as exc:
        raise HeatmarkError(f"{out_dir / PROTOCOL_FILE}: cannot write ({exc})") from None
    return written
