"""Evaluate predictions made in one landmark scheme against ground truth in another.

Cross-dataset protocols (e.g. a 98-point WFLW model on 68-point 300W faces, or COFW -> AFLW) need
the points both markups share. The prediction is rearranged into the ground truth's order and the
points without a twin are masked out of the errors; the normalising distance still comes from the
full ground truth.
"""

from __future__ import annotations

import numpy as np

from heatmark.schemes import Scheme, find_index_map


def to_ground_truth_scheme(
    pred: np.ndarray, pred_scheme: Scheme, gt_scheme: Scheme
) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, Kp, 2) predictions -> (N, Kg, 2) in ground-truth order, plus a (N, Kg) mask of the
    points that have a twin (None when every point does)."""
    if pred_scheme == gt_scheme:
        return pred, None
    index_map = find_index_map(pred_scheme, gt_scheme)
    aligned = np.zeros((pred.shape[0], gt_scheme.num_points, 2))
    aligned[:, index_map.target_indices] = pred[:, index_map.source_indices]
    if index_map.is_complete:
        return aligned, None
    mask = np.zeros((pred.shape[0], gt_scheme.num_points), dtype=bool)
    mask[:, index_map.target_indices] = True
    return aligned, mask
