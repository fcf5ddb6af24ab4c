"""Read a labelled data set from a file: CSV (with a target column) or NumPy .npz."""

from __future__ import annotations

import contextlib
import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import Dataset

MAX_CLASSES = 50


def load_file(
    path: str | Path, *, target: str | None = None, task: str | None = None
) -> Dataset:
    """Load features and labels from ``path``.

    - ``.csv``: a header row; ``target`` names the label column (default: the last);
      every other column must be numeric.
    - ``.npz``: arrays ``X`` (2-D) and ``y`` (one value per row).

    The task is inferred from the labels unless given: integer labels with at most 50
    distinct values are classes (two of them: binary), anything else is regression.
    Class labels are encoded as 0..K-1 in sorted order; ``class_names`` keeps them.

    Raises:
        ValueError: for a missing file or column, non-numeric features, NaN, or
            mismatched lengths, saying how to fix it.
    """
    source = Path(path)
    if not source.exists():
        raise ValueError(
            f"data file {source} does not exist; give a path to a .csv or .npz "
            "file or a built-in dataset name."
        )
    suffix = source.suffix.lower()
    if suffix == ".csv":
        X, labels = _read_csv(source, target)
    elif suffix == ".npz":
        X, labels = _read_npz(source)
    else:
        raise ValueError(
            f"data file {source} has an unsupported type {suffix!r}; expected .csv "
            "or .npz."
        )
    if not np.all(np.isfinite(X)):
        rows = np.flatnonzero(~np.all(np.isfinite(X), axis=1))
        raise ValueError(
            f"{source}: features contain NaN or infinite values in {len(rows)} row(s) "
            f"(first data row {int(rows[0]) + 1}). Drop those rows or impute the "
            "values "
            "(e.g. with the column mean of the training set)."
        )
    return _as_dataset(source.stem, X, labels, task)


def _read_csv(source: Path, target: str | None) -> tuple[Any, Any]:
    with source.open(newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    if len(rows) < 2:
        raise ValueError(f"{source} needs a header row and at least one data row.")
    header, body = rows[0], rows[1:]
    name = target if target is not None else header[-1]
    if name not in header:
        raise ValueError(
            f"{source} has no column {name!r}; its columns are {header}. Pass "
            "--target with one of them."
        )
    column = header.index(name)
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(
                f"{source}: line {number} has {len(row)} fields; the header has "
                f"{len(header)}."
            )
    features = [i for i in range(len(header)) if i != column]
    X = np.empty((len(body), len(features)))
    for j, i in enumerate(features):
        for r, row in enumerate(body):
            try:
                X[r, j] = float(row[i]) if row[i].strip() else math.nan
            except ValueError:
                raise ValueError(
                    f"{source}: column {header[i]!r} is not numeric (line {r + 2}: "
                    f"{row[i]!r}). Encode categories as numbers or drop the column."
                ) from None
    labels = np.array([row[column] for row in body])
    with contextlib.suppress(ValueError):  # text class names stay text
        labels = labels.astype(np.float64)
    return X, labels


def _read_npz(source: Path) -> tuple[Any, Any]:
    with np.load(source, allow_pickle=False) as archive:
        missing = [key for key in ("X", "y") if key not in archive.files]
        if missing:
            raise ValueError(
                f"{source} has no array {missing}; it holds {archive.files}. Save "
                "with np.savez(path, X=X, y=y)."
            )
        X, labels = archive["X"], archive["y"]
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        raise ValueError(
            f"{source}: X must be a 2-D numeric array; got shape {X.shape} and "
            f"dtype {X.dtype}."
        )
    if len(labels) != len(X):
        raise ValueError(
            f"{source}: X has {len(X)} rows but y has {len(labels)} values; they "
            "must match."
        )
    return X.astype(np.float64), labels


def _as_dataset(name: str, X: Any, labels: Any, task: str | None) -> Dataset:
    numeric = labels.dtype.kind in "biuf"
    if numeric and not np.all(np.isfinite(labels)):
        raise ValueError(
            f"{name}: labels contain NaN or infinite values; drop those rows."
        )
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
            raise ValueError(
                f"{name}: regression needs numeric targets; got text labels."
            )
        return Dataset(
            name,
            X,
            labels.astype(np.float64),
            "regression",
            (),
            f"{len(X)} rows from a file",
        )
    if task not in ("binary", "multiclass"):
        raise ValueError(
            f"unknown task {task!r}; expected binary, multiclass or regression."
        )
    encoded = np.searchsorted(classes, labels).astype(np.int64)
    names = tuple(str(int(c)) if numeric else str(c) for c in classes)
    if task == "binary" and len(classes) != 2:
        raise ValueError(
            f"{name}: a binary task needs exactly 2 classes; found {len(classes)}."
        )
    return Dataset(name, X, encoded, task, names, f"{len(X)} rows from a file")
