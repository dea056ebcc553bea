"""Readers for every supported benchmark format; all of them return ``list[Sample]``.

Points come out in heatmark's convention (0-based pixel centres) whatever the file used; each
reader documents the layout it expects and the origin it assumes (see ``origin``).
"""

from heatmark.data.readers.aflw import read_aflw_csv, read_aflw_mat
from heatmark.data.readers.auto import load_dataset
from heatmark.data.readers.coco import read_coco
from heatmark.data.readers.cofw import read_cofw
from heatmark.data.readers.lsp import read_lsp
from heatmark.data.readers.origin import CoordinateOrigin
from heatmark.data.readers.predictions import prediction_keys, read_predictions, write_predictions
from heatmark.data.readers.pts import format_pts, parse_pts, read_pts, write_pts
from heatmark.data.readers.vw300 import read_300vw, read_300vw_clip
from heatmark.data.readers.w300 import read_300w, split_300w, subset_300w
from heatmark.data.readers.wflw import WFLW_ATTRIBUTES, read_wflw

__all__ = [
    "WFLW_ATTRIBUTES",
    "CoordinateOrigin",
    "format_pts",
    "load_dataset",
    "parse_pts",
    "prediction_keys",
    "read_300vw",
    "read_300vw_clip",
    "read_300w",
    "read_aflw_csv",
    "read_aflw_mat",
    "read_coco",
    "read_cofw",
    "read_lsp",
    "read_predictions",
    "read_pts",
    "read_wflw",
    "split_300w",
    "subset_300w",
    "write_predictions",
    "write_pts",
]
