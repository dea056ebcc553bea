"""Reading MATLAB ``.mat`` files of either kind into arrays in MATLAB's own orientation.

Version 5 files are read with scipy; version 7.3 files are HDF5 and are read with h5py. HDF5
stores MATLAB's column-major arrays transposed (a MATLAB ``N x 87`` matrix reads as
``87 x N``, an ``H x W x 3`` image as ``3 x W x H``), so every array is transposed back here and
both kinds of file come out the same: numeric arrays with MATLAB's shape, cell arrays as
object arrays of converted elements, character arrays as ``str``. Any failure of the
underlying parser becomes a ``DataError`` naming the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import h5py
import numpy as np
import scipy.io

from heatmark.errors import DataError

MatValue = np.ndarray | str


def mat_variable_names(path: Path) -> list[str]:
    """The names of the variables stored in a ``.mat`` file (cheap: no data is read)."""
    path = _existing(path)
    try:
        if h5py.is_hdf5(str(path)):
            with h5py.File(path, "r") as file:
                return [name for name in file if not name.startswith("#")]
        return [name for name, _, _ in scipy.io.whosmat(str(path))]
    except Exception as exc:  # any parser failure means the file is unreadable
        raise DataError(path, f"cannot read MATLAB file ({type(exc).__name__}: {exc})") from None


def load_mat(path: Path, names: Iterable[str]) -> dict[str, MatValue]:
    """The variables ``names`` of a ``.mat`` file that exist in it, in MATLAB orientation."""
    path = _existing(path)
    wanted = list(names)
    try:
        if h5py.is_hdf5(str(path)):
            with h5py.File(path, "r") as file:
                return {name: _from_hdf5(file, file[name]) for name in wanted if name in file}
        raw = scipy.io.loadmat(str(path), variable_names=wanted)
    except DataError:
        raise
    except Exception as exc:  # any parser failure means the file is unreadable
        raise DataError(path, f"cannot read MATLAB file ({type(exc).__name__}: {exc})") from None
    return {name: _from_scipy(raw[name]) for name in wanted if name in raw}


def cell_string(value: MatValue, path: Path, what: str) -> str:
    """A cell element that should hold a character array, as ``str``."""
    if isinstance(value, str):
        return value
    array = np.asarray(value)
    if array.dtype.kind == "U" and array.size == 1:
        return str(array.reshape(-1)[0])
    raise DataError(path, f"{what} is not a character string")


def _existing(path: Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    return path


def _from_scipy(value: np.ndarray) -> MatValue:
    """scipy's v5 values: char arrays to ``str``, cells converted element by element."""
    if value.dtype.kind == "U":
        return "".join(str(item) for item in value.reshape(-1))
    if value.dtype == object:
        converted = np.empty(value.shape, dtype=object)
        for index, item in np.ndenumerate(value):
            converted[index] = _from_scipy(np.asarray(item))
        return converted
    return value


def _from_hdf5(file: h5py.File, node: h5py.Dataset | h5py.Group) -> MatValue:
    """One HDF5 node of a v7.3 file -> MATLAB-oriented value (references followed)."""
    if isinstance(node, h5py.Group):
        raise DataError(
            file.filename,
            f"variable {node.name} is a MATLAB struct; "
            "only arrays, strings and cells are supported",
        )
    matlab_class = node.attrs.get("MATLAB_class", b"")
    if isinstance(matlab_class, bytes):
        matlab_class = matlab_class.decode("ascii", "replace")
    if node.attrs.get("MATLAB_empty", 0):
        return np.zeros((0,), dtype=np.float64)
    data = node[()]
    if matlab_class == "cell" or node.dtype == h5py.ref_dtype:
        converted = np.empty(data.shape, dtype=object)
        for index, reference in np.ndenumerate(data):
            converted[index] = _from_hdf5(file, file[reference])
        return converted.T
    if matlab_class == "char":
        codes = np.asarray(data).T
        return "".join(chr(int(code)) for code in codes.reshape(-1, order="C") if code)
    return np.asarray(data).T
