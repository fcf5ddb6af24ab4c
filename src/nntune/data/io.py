"""Read and write labelled data sets: CSV, Parquet, NumPy, HDF5 and MATLAB files.

=============  ===============================================================  =======
suffix         layout                                                           extra
=============  ===============================================================  =======
``.csv``       header row; ``target`` names the label column (default: last)    --
``.parquet``   a table; ``target`` names the label column (default: last)      data
``.npy``       one 2-D array; the label is its LAST column, or column           --
               ``target`` when that is an index such as ``"0"``
``.npz``       arrays ``X`` and ``y`` (or ``x_key``/``y_key``), optional        --
               ``class_names``
``.h5``        datasets ``X`` and ``y`` (or ``x_key``/``y_key``, or the one     data
``.hdf5``      ``*_x``/``*_y`` pair, e.g. the course's ``train_set_x`` and
               ``train_set_y``), optional ``list_classes`` (bytes)
``.mat``       MATLAB matrices ``X`` and ``y`` (or ``x_key``/``y_key``, e.g.      --
               the course's ``Xval``/``yval``), optional ``class_names`` (cell)
=============  ===============================================================  =======

Images (``X`` of shape ``(N, H, W[, C])`` in ``.npz``/HDF5) are flattened to rows of
``H*W*C`` values in C order, like the course's ``X.reshape(N, -1)``, and
``Dataset.image_shape`` keeps ``(H, W, C)``. Parquet and HDF5 need the ``data`` extra
(``pip install "nntune[data]"``); with it, CSV files of a megabyte or more are read by
pyarrow, about ten times faster, with the same result.

What a round trip through :func:`save_file` and :func:`load_file` keeps: features
exactly (as float64), labels, class names and their order, and the image shape in
``.npz``/HDF5; class names and their order in Parquet. CSV stores class names as text
and reading encodes them in sorted order, so the codes change when the names were not
sorted; ``.npy`` stores numbers only (integer class names, else the codes) and no
image shape.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_write_bytes
from .array_formats import (
    read_hdf5,
    read_mat,
    read_npy,
    read_npz,
    write_hdf5,
    write_mat,
    write_npy,
    write_npz,
)
from .datasets import Dataset, list_datasets
from .formats import (
    DataFileError,
    Format,
    read_csv,
    read_parquet,
    write_csv,
    write_parquet,
)

MAX_CLASSES = 50
TASKS = ("binary", "multiclass", "regression")
__all__ = ["FORMATS", "MAX_CLASSES", "DataFileError", "load_file", "save_file"]


FORMATS: dict[str, Format] = {
    ".csv": Format("CSV", read_csv, write_csv, False),
    ".parquet": Format("Parquet", read_parquet, write_parquet, False),
    ".npy": Format("NumPy .npy", read_npy, write_npy, False),
    ".npz": Format("NumPy .npz", read_npz, write_npz, True),
    ".h5": Format("HDF5", read_hdf5, write_hdf5, True),
    ".hdf5": Format("HDF5", read_hdf5, write_hdf5, True),
    ".mat": Format("MATLAB .mat", read_mat, write_mat, True),
}
"""Supported suffixes (lower case) and their readers and writers."""


def load_file(
    path: str | Path,
    *,
    target: str | None = None,
    task: str | None = None,
    x_key: str | None = None,
    y_key: str | None = None,
) -> Dataset:
    r"""Load features and labels from a CSV, Parquet, NumPy or HDF5 file.

    The task is inferred from the labels unless given: integer labels with at most 50
    distinct values are classes (two of them: binary), anything else is regression.
    Class labels are encoded as 0..K-1 in sorted order and ``class_names`` keeps them,
    unless the file stores class names (Parquet categoricals, ``class_names`` in
    ``.npz``, ``list_classes`` in HDF5): then the labels are indices into those names.

    Args:
        path: the file; its suffix says the format (see the module docs).
        target: the label column of a ``.csv``/``.parquet`` file (default: the last);
            for ``.npy``, a column index such as ``"0"`` (default: the last).
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``; inferred if None.
        x_key: the feature array of an ``.npz``/HDF5 file (default ``X``, or the
            ``*_x`` of the file's single ``*_x``/``*_y`` pair).
        y_key: the label array of an ``.npz``/HDF5 file (default ``y``, or ``*_y``).

    Returns:
        A :class:`Dataset` with float64 features named after the file.

    Raises:
        DataFileError: (a ValueError) for a missing, damaged or unsupported file,
            missing columns or arrays, non-numeric features, NaN or infinite values,
            or mismatched lengths, saying how to fix it.
        ValueError: for options that do not apply to the format, or a bad task.
        ImportError: (also a ValueError) when Parquet/HDF5 support is not installed.

    Example:
        >>> import tempfile
        >>> folder = tempfile.TemporaryDirectory()
        >>> path = Path(folder.name) / "pets.csv"
        >>> _ = path.write_text("weight,height,animal\n4.1,25,cat\n30,60,dog\n")
        >>> data = load_file(path, target="animal")
        >>> data.X.tolist(), data.y.tolist(), data.class_names, data.task
        ([[4.1, 25.0], [30.0, 60.0]], [0, 1], ('cat', 'dog'), 'binary')
        >>> folder.cleanup()
    """
    source = Path(path)
    if not source.exists():
        raise DataFileError(
            f"data file {source} does not exist; give a path to a "
            f"{_suffixes()} file (or, to nntune train, a built-in dataset name: "
            f"{', '.join(list_datasets())})."
        )
    if source.is_dir():
        raise DataFileError(
            f"{source} is a folder; give the path of a {_suffixes()} file."
        )
    form = _format(source)
    if form.named_arrays and target is not None:
        raise ValueError(
            f"target picks a column of a .csv, .parquet or .npy file; {source.name} "
            f"holds named arrays: choose them with y_key= (and x_key=) instead."
        )
    if not form.named_arrays and (x_key is not None or y_key is not None):
        raise ValueError(
            f"x_key and y_key name arrays of .npz and HDF5 files; {source.name} is "
            f"{form.kind}: choose its label column with target= instead."
        )
    raw = form.read(source, target, x_key, y_key)
    X, labels = np.asarray(raw.X), np.asarray(raw.labels)
    if X.ndim < 2 or X.dtype.kind not in "biuf":
        raise DataFileError(
            f"{source}: {raw.x_name} must be a numeric array with examples as rows, "
            f"shape (examples, features) or images (examples, height, width"
            f"[, channels]); got shape {X.shape} and dtype {X.dtype}."
        )
    image_shape = tuple(int(n) for n in X.shape[1:]) if X.ndim > 2 else None
    # No copy when the reader gave float64 rows already (CSV, Parquet): one copy of
    # a large file's features in memory, not two.
    X = X.reshape(len(X), -1).astype(np.float64, copy=False)
    if X.shape[1] == 0:
        names = raw.feature_names or ()
        hint = ""
        if raw.target_name and any(d in raw.target_name for d in ";\t|"):
            hint = (
                f" Its only column is {raw.target_name!r}: the file looks delimited "
                "by another character than a comma; save it as comma-separated."
            )
        raise DataFileError(
            f"{source} has no feature columns besides the label column "
            f"{raw.target_name or raw.y_name!r} (columns: {list(names)}).{hint}"
        )
    labels = _label_vector(labels, len(X))
    if len(labels) != len(X):
        raise DataFileError(
            f"{source}: {raw.x_name} has {len(X)} rows but {raw.y_name} has "
            f"{len(labels)} values; they must match (examples are rows: transpose "
            "arrays that hold examples as columns)."
        )
    check_finite(X, f"{source}: features")
    dataset = encode_labels(
        source.stem,
        X,
        labels,
        task,
        class_names=raw.class_names,
        image_shape=image_shape,
        description=f"{len(X)} rows from {source.name}",
    )
    if dataset.task != "regression" and dataset.n_classes < 2:
        raise DataFileError(
            f"{source}: the labels ({raw.y_name}) hold a single class "
            f"{list(dataset.class_names)}; a classifier needs examples of at least 2 "
            "classes. Check the label column (--target), or give --task regression "
            "for numeric targets."
        )
    return dataclasses.replace(
        dataset, feature_names=raw.feature_names, target=raw.target_name
    )


def save_file(
    data: Dataset | np.ndarray[Any, Any],
    y: np.ndarray[Any, Any] | None,
    path: str | Path,
    *,
    target: str | int = "target",
    task: str | None = None,
    x_key: str = "X",
    y_key: str = "y",
) -> None:
    """Write a data set atomically in the format its suffix names; never pickles.

    Every format reads back with :func:`load_file` (see the module docs for what each
    keeps). Columns of CSV and Parquet files are named ``x0, x1, ...`` and ``target``.

    Args:
        data: a :class:`Dataset` (then ``y`` is None), or features ``X`` with
            examples as rows (``(N, H, W[, C])`` images are flattened, their shape
            kept where the format can).
        y: labels, one per row of ``X`` (class names, class numbers or targets).
        path: the file to write; ``.csv``, ``.parquet``, ``.npy``, ``.npz``, ``.h5``
            or ``.hdf5``.
        target: the label column's name (CSV, Parquet); for ``.npy`` a column
            index, the label going last when it is a name.
        task: the task of ``X, y`` (inferred if None); not used with a Dataset.
        x_key: the name of the feature array in ``.npz``/HDF5 files.
        y_key: the name of the label array in ``.npz``/HDF5 files.

    Raises:
        ValueError: for an unsupported suffix, NaN or infinite features, labels
            that do not fit the features, or several target columns for a format
            that holds one.
        ImportError: (also a ValueError) when Parquet/HDF5 support is not installed.

    Example:
        >>> import tempfile
        >>> folder = tempfile.TemporaryDirectory()
        >>> path = Path(folder.name) / "pets.npz"
        >>> X = np.array([[4.1, 25.0], [30.0, 60.0], [3.9, 24.0]])
        >>> save_file(X, np.array(["dog", "cat", "dog"]), path)
        >>> data = load_file(path)
        >>> data.y.tolist(), data.class_names
        ([1, 0, 1], ('cat', 'dog'))
        >>> folder.cleanup()
    """
    destination = Path(path)
    form = _format(destination)
    if isinstance(data, Dataset):
        if y is not None or task is not None:
            raise ValueError(
                "a Dataset carries its own labels and task; call "
                "save_file(dataset, None, path)."
            )
        dataset = data
    else:
        dataset = _from_arrays(destination, data, y, task)
    check_finite(dataset.X, f"cannot save {destination}: X")
    if not form.named_arrays and dataset.y.ndim != 1:
        raise ValueError(
            f"cannot save {destination}: {form.kind} holds one target column but y "
            f"has shape {dataset.y.shape}; save several targets as .npz or .h5."
        )
    atomic_write_bytes(destination, form.write(dataset, target, x_key, y_key))


def _from_arrays(destination: Path, X: Any, y: Any, task: str | None) -> Dataset:
    X = np.asarray(X)
    if y is None:
        raise ValueError("save_file(X, y, path) needs labels y; got y=None.")
    if X.ndim < 2 or X.dtype.kind not in "biuf":
        raise ValueError(
            f"X must be a numeric array with examples as rows; got shape {X.shape} "
            f"and dtype {X.dtype}."
        )
    image_shape = tuple(int(n) for n in X.shape[1:]) if X.ndim > 2 else None
    X = X.reshape(len(X), -1)
    labels = _label_vector(np.asarray(y), len(X))
    if len(labels) != len(X):
        raise ValueError(
            f"X has {len(X)} rows but y has {len(labels)} values; they must match."
        )
    return encode_labels(
        destination.stem, X, labels, task, image_shape=image_shape, description=""
    )


def _format(path: Path) -> Format:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataFileError(
            f"data file {path} has an unsupported type {suffix!r}; expected "
            f"{_suffixes()}. Convert it (pandas reads most tables) or fix the suffix."
        )
    return FORMATS[suffix]


def _suffixes() -> str:
    return ", ".join(FORMATS)


def _label_vector(labels: np.ndarray[Any, Any], n_rows: int) -> np.ndarray[Any, Any]:
    """Labels stored as a row or column vector (the course's ``(1, m)``) -> ``(m,)``."""
    if labels.ndim == 0:
        return labels.reshape(1)
    if labels.ndim == 2 and 1 in labels.shape and labels.size == n_rows:
        return labels.reshape(-1)
    return labels


def check_finite(X: np.ndarray[Any, Any], what: str) -> None:
    """Raise if a row of ``X`` holds NaN or inf, counting the rows and the first."""
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        rows = np.flatnonzero(~finite)
        raise DataFileError(
            f"{what} contain NaN or infinite values in {len(rows)} row(s) (first "
            f"data row {int(rows[0]) + 1}). Drop those rows, or impute the missing "
            "values with each column's mean over the training set (not the dev or "
            "test set)."
        )


def encode_labels(
    name: str,
    X: np.ndarray[Any, Any],
    labels: np.ndarray[Any, Any],
    task: str | None,
    *,
    class_names: tuple[str, ...] | None = None,
    image_shape: tuple[int, ...] | None = None,
    description: str = "",
) -> Dataset:
    """A Dataset with the task inferred and class labels encoded as 0..K-1."""
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}.")
    if labels.dtype.kind in "SO":
        text = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in labels]
        labels = np.array(text)
    numeric = labels.dtype.kind in "biuf"
    if not numeric and labels.dtype.kind != "U":
        raise DataFileError(
            f"{name}: labels must be numbers or text; got dtype {labels.dtype}."
        )
    if numeric and not np.all(np.isfinite(labels)):
        count = int(np.sum(~np.isfinite(labels.reshape(len(labels), -1)).all(axis=1)))
        raise DataFileError(
            f"{name}: labels contain NaN or infinite values in {count} row(s); "
            "drop those rows."
        )
    description = description or f"{len(X)} rows"
    if class_names is not None:
        return _indexed(name, X, labels, task, class_names, image_shape, description)
    integral = not numeric or bool(np.all(labels == np.round(labels)))
    classes = np.unique(labels)
    if task is None:
        task = (
            "regression"
            if not integral or len(classes) > MAX_CLASSES
            else "binary"
            if len(classes) == 2
            else "multiclass"
        )
    if task == "regression":
        if not numeric:
            raise DataFileError(
                f"{name}: regression needs numeric targets; got text labels."
            )
        y = labels.astype(np.float64)
        return Dataset(name, X, y, task, (), description, image_shape)
    _check_class_labels(name, labels, task, len(classes))
    encoded = np.searchsorted(classes, labels).astype(np.int64)
    names = tuple(_class_name(c) for c in classes)
    return Dataset(name, X, encoded, task, names, description, image_shape)


def _class_name(value: Any) -> str:
    integral = isinstance(value, np.integer | np.bool_) or (
        isinstance(value, np.floating) and float(value).is_integer()
    )
    return str(int(value)) if integral else str(value)


def _check_class_labels(name: str, labels: Any, task: str, n_classes: int) -> None:
    if labels.ndim != 1:
        raise DataFileError(
            f"{name}: class labels must be one value per row; got shape "
            f"{labels.shape}. Pass task='regression' for several targets."
        )
    if task == "binary" and n_classes != 2:
        raise DataFileError(
            f"{name}: a binary task needs exactly 2 classes; found {n_classes}. "
            "Use task='multiclass' (or leave task out)."
        )


def _indexed(
    name: str,
    X: np.ndarray[Any, Any],
    labels: np.ndarray[Any, Any],
    task: str | None,
    class_names: tuple[str, ...],
    image_shape: tuple[int, ...] | None,
    description: str,
) -> Dataset:
    """Labels that index the class names a file stores (the course's list_classes)."""
    n_classes = len(class_names)
    if task == "regression":
        raise DataFileError(
            f"{name}: the file names its classes {list(class_names)}, so it is a "
            "classification set; pass task='binary' or 'multiclass' (or leave it out)."
        )
    task = task or ("binary" if n_classes == 2 else "multiclass")
    _check_class_labels(name, labels, task, n_classes)
    numeric = labels.dtype.kind in "biuf"
    valid = (
        (labels == np.round(labels)) & (labels >= 0) & (labels < n_classes)
        if numeric
        else np.zeros(labels.shape, bool)
    )
    if not valid.all():
        raise DataFileError(
            f"{name}: labels must be class indices 0..{n_classes - 1} into the "
            f"class names {list(class_names)} the file stores; found "
            f"{labels[~valid].tolist()[0]!r}."
        )
    y = labels.astype(np.int64)
    return Dataset(name, X, y, task, class_names, description, image_shape)
