"""Readers and writers of NumPy ``.npy``/``.npz``, HDF5 and MATLAB ``.mat`` files.

``.npz``, HDF5 and ``.mat`` files hold named arrays: features ``X`` and labels ``y``
by default, or the course's ``train_set_x``/``train_set_y`` with ``list_classes``,
or the regularization lab's ``Xval``/``yval`` (``data.mat``) when named. Images keep
their shape in the file; :mod:`nntune.data.io` flattens them to rows. NumPy files are
read with ``allow_pickle=False`` (and ``.mat`` files never unpickle); h5py and SciPy
(``.mat``, MATLAB's formats up to 7.2) are imported only when their format is used.
"""

from __future__ import annotations

import importlib
import io
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import Dataset
from .formats import DataFileError, RawData, require, unreadable

CLASS_NAME_KEYS = ("class_names", "list_classes")
"""Arrays of ``.npz``/HDF5 files that name the classes (``list_classes``: course)."""


# NumPy -------------------------------------------------------------------------------


def target_column(target: str | int | None, n_columns: int, source: Path) -> int:
    """The ``.npy`` target column: an index (``-1``, the last, by default)."""
    if target is None:
        return n_columns - 1
    try:
        index = int(target)
    except ValueError:
        raise ValueError(
            f"{source}: a .npy file has no column names, so target must be a column "
            f"index such as 0 or -1; got {target!r}."
        ) from None
    if not -n_columns <= index < n_columns:
        raise ValueError(
            f"{source}: target column {index} is out of range; the array has "
            f"{n_columns} columns (use 0..{n_columns - 1}, or -1 for the last)."
        )
    return index % n_columns


def read_npy(source: Path, target: str | None, x_key: Any, y_key: Any) -> RawData:
    """One 2-D numeric array; the target is its last column unless ``target``."""
    try:
        array = np.load(source, allow_pickle=False)
    except Exception as error:
        raise unreadable(source, "a NumPy .npy array", error) from None
    if not isinstance(array, np.ndarray):
        array.close()
        raise DataFileError(
            f"{source} is an .npz archive of several arrays, not one .npy array; "
            "rename it to .npz."
        )
    if array.ndim != 2 or array.shape[1] < 2 or array.dtype.kind not in "biuf":
        raise DataFileError(
            f"{source}: expected one 2-D numeric array, examples as rows, with the "
            f"target in one column (the last by default); got shape {array.shape} "
            f"and dtype {array.dtype}. Save X and y with nntune.save_file."
        )
    column = target_column(target, array.shape[1], source)
    X = np.delete(array, column, axis=1)
    return RawData(X, array[:, column], None, "features", f"column {column}")


def write_npy(data: Dataset, target: str | int, x_key: str, y_key: str) -> bytes:
    """One float64 array: the features with the labels inserted as one column.

    The target goes last, or at ``target`` when it is a column index. Class labels are
    written as numbers: the class names when they are all integers, else the codes
    (a ``.npy`` file keeps no class names).
    """
    n_columns = data.n_features + 1
    column = (
        n_columns - 1
        if isinstance(target, str) and not target.lstrip("-").isdigit()
        else target_column(target, n_columns, Path("<.npy>"))
    )
    labels = np.asarray(data.y, dtype=np.float64)
    if data.class_names and all(
        name.lstrip("-").isdigit() for name in data.class_names
    ):
        labels = np.array([int(name) for name in data.class_names], float)[data.y]
    array = np.insert(np.asarray(data.X, dtype=np.float64), column, labels, axis=1)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def pick_keys(
    source: Path, names: list[str], x_key: str | None, y_key: str | None
) -> tuple[str, str]:
    """The feature and label arrays: given, ``X``/``y``, or the one ``*_x``/``*_y``."""
    if x_key is None and y_key is None:
        if "X" in names and "y" in names:
            return "X", "y"
        pairs = [(n, n[:-2] + "_y") for n in names if n.endswith("_x")]
        pairs = [(x, y) for x, y in pairs if y in names]
        if len(pairs) == 1:
            return pairs[0]
        if pairs:
            raise DataFileError(
                f"{source} holds several feature/label pairs {pairs}; choose one "
                f"with x_key= and y_key= (e.g. x_key={pairs[0][0]!r}, "
                f"y_key={pairs[0][1]!r})."
            )
        raise DataFileError(
            f"{source} has no arrays X and y and no *_x/*_y pair; it holds {names}. "
            "Pass x_key= and y_key= naming the features and the labels."
        )
    x_key = x_key if x_key is not None else _partner(source, str(y_key))
    y_key = y_key if y_key is not None else _partner(source, x_key)
    missing = [key for key in (x_key, y_key) if key not in names]
    if missing:
        raise DataFileError(
            f"{source} has no array {missing}; it holds {names}. Pass x_key= and "
            "y_key= naming two of them."
        )
    return x_key, y_key


def _partner(source: Path, key: str) -> str:
    partners = {"X": "y", "y": "X"}
    if key in partners:
        return partners[key]
    if key[-2:] in ("_x", "_y"):
        return key[:-1] + ("y" if key[-1] == "x" else "x")
    if key[:1] in partners:  # the regularization lab's Xval and yval
        return partners[key[0]] + key[1:]
    raise ValueError(
        f"{source}: cannot tell the partner of array {key!r}; pass both x_key= and "
        "y_key=."
    )


def _decode(values: Any) -> tuple[str, ...]:
    items = np.asarray(values).ravel().tolist()
    return tuple(v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in items)


def _class_names(names: list[str], y_key: str) -> str | None:
    folder = y_key.rpartition("/")[0]
    for key in CLASS_NAME_KEYS:
        path = f"{folder}/{key}" if folder else key
        if path in names:
            return path
    return None


def read_npz(
    source: Path, target: Any, x_key: str | None, y_key: str | None
) -> RawData:
    """Named arrays: ``X`` and ``y`` (or ``x_key``/``y_key``), optional class names."""
    try:
        # Open the file here: np.load leaks its own handle when the zip is damaged.
        with source.open("rb") as file:
            archive = np.load(file, allow_pickle=False)
            if isinstance(archive, np.ndarray):
                raise DataFileError(
                    f"{source} is a single .npy array, not an .npz archive; rename "
                    "it to .npy."
                )
            with archive:
                names = list(archive.files)
                x_key, y_key = pick_keys(source, names, x_key, y_key)
                classes = _class_names(names, y_key)
                return RawData(
                    archive[x_key],
                    archive[y_key],
                    _decode(archive[classes]) if classes else None,
                    x_key,
                    y_key,
                )
    except DataFileError:
        raise
    except Exception as error:
        raise unreadable(source, "a NumPy .npz archive", error) from None


def write_npz(data: Dataset, target: str, x_key: str, y_key: str) -> bytes:
    """Arrays ``X`` (images keep their shape), ``y`` and ``class_names`` (text)."""
    arrays = {x_key: _shaped(data), y_key: data.y}
    if data.class_names:
        arrays["class_names"] = np.asarray(data.class_names, dtype=np.str_)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def _shaped(data: Dataset) -> np.ndarray[Any, Any]:
    if data.image_shape is None:
        return data.X
    return data.X.reshape(len(data.X), *data.image_shape)


# HDF5 --------------------------------------------------------------------------------


def read_hdf5(
    source: Path, target: Any, x_key: str | None, y_key: str | None
) -> RawData:
    """Named datasets (``X``/``y``, or the course's ``train_set_x``/``train_set_y``)."""
    h5py = require("h5py", "Reading HDF5")
    try:
        with h5py.File(source, "r") as file:
            names: list[str] = []

            def collect(name: str, item: Any) -> None:
                if isinstance(item, h5py.Dataset):
                    names.append(name)

            file.visititems(collect)
            x_key, y_key = pick_keys(source, names, x_key, y_key)
            classes = _class_names(names, y_key)
            return RawData(
                file[x_key][()],
                file[y_key][()],
                _decode(file[classes][()]) if classes else None,
                x_key,
                y_key,
            )
    except DataFileError:
        raise
    except Exception as error:
        raise unreadable(source, "HDF5", error) from None


def write_hdf5(data: Dataset, target: str, x_key: str, y_key: str) -> bytes:
    """Datasets ``X`` (images keep their shape), ``y`` and ``list_classes`` (bytes)."""
    h5py = require("h5py", "Writing HDF5")
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as file:
        file.create_dataset(x_key, data=_shaped(data))
        file.create_dataset(y_key, data=data.y)
        if data.class_names:
            encoded = [name.encode("utf-8") for name in data.class_names]
            folder = y_key.rpartition("/")[0]
            key = f"{folder}/list_classes" if folder else "list_classes"
            file.create_dataset(key, data=np.array(encoded))
    return buffer.getvalue()


# MATLAB -------------------------------------------------------------------------------


def read_mat(
    source: Path, target: Any, x_key: str | None, y_key: str | None
) -> RawData:
    """Named matrices (``X``/``y``, or ``x_key``/``y_key``), optional class names.

    The course's regularization lab stores examples as rows, ``X`` of shape ``(m,
    2)`` and ``y`` of shape ``(m, 1)``, and the dev set as ``Xval``/``yval``: the
    lab transposes them to its columns, nntune keeps the rows.
    """
    sio = importlib.import_module("scipy.io")  # SciPy comes with scikit-learn

    try:
        with source.open("rb") as file:
            arrays = sio.loadmat(file)
    except Exception as error:
        raise unreadable(source, "a MATLAB .mat file", error) from None
    names = [name for name in arrays if not name.startswith("__")]
    x_key, y_key = pick_keys(source, names, x_key, y_key)
    classes = _class_names(names, y_key)
    found = _mat_text(arrays[classes]) if classes else None
    return RawData(arrays[x_key], arrays[y_key], found, x_key, y_key)


def _mat_text(values: Any) -> tuple[str, ...]:
    """Class names from a cell array of strings or a (space-padded) char matrix."""
    array = np.asarray(values)
    if array.dtype == object:
        return tuple("".join(np.asarray(item).ravel().tolist()) for item in array.flat)
    return tuple(name.rstrip(" ") for name in _decode(array))


def write_mat(data: Dataset, target: str, x_key: str, y_key: str) -> bytes:
    """Matrices ``X`` (images keep their shape), ``y`` and a ``class_names`` cell."""
    sio = importlib.import_module("scipy.io")
    arrays: dict[str, Any] = {x_key: _shaped(data), y_key: data.y}
    if data.class_names:
        arrays["class_names"] = np.array(data.class_names, dtype=object)
    buffer = io.BytesIO()
    sio.savemat(buffer, arrays)
    return buffer.getvalue()
