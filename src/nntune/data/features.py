"""Read features without labels (for predictions) and write predictions."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_write_bytes
from .formats import DataFileError, require


def match_columns(
    columns: list[str],
    feature_names: list[str],
    drop: str | None,
    source: Path,
) -> tuple[list[int], str | None]:
    """Positions of the model's features among ``columns``, matched by name.

    Returns the positions and a note when the columns came in another order.

    Raises:
        DataFileError: when a feature the model was trained on is missing, or a
            column is neither a feature nor the label column ``drop``.
    """
    missing = [name for name in feature_names if name not in columns]
    unknown = [name for name in columns if name not in feature_names and name != drop]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"it lacks the feature column(s) {missing}")
        if unknown:
            parts.append(f"it has column(s) {unknown} the model was not trained on")
        raise DataFileError(
            f"{source} does not have the model's features: {'; '.join(parts)}. The "
            f"model was trained on {feature_names}; give a file with those columns "
            "(any order), and name a label column to ignore with --target."
        )
    positions = [columns.index(name) for name in feature_names]
    note = None
    if positions != sorted(positions):
        note = (
            f"{source}: the feature columns are in another order than in training; "
            "they were matched by name."
        )
    return positions, note


def _from_table(
    columns: list[str],
    values: Any,
    n_features: int,
    target: str | None,
    source: Path,
    feature_names: list[str] | None = None,
    notes: list[str] | None = None,
) -> np.ndarray[Any, Any]:
    if target is not None and target not in columns and feature_names is None:
        raise DataFileError(
            f"{source} has no column {target!r}; its columns are {columns}."
        )
    if feature_names is not None:
        keep, note = match_columns(columns, feature_names, target, source)
        if note is not None and notes is not None:
            notes.append(note)
        return np.asarray(values)[:, keep]
    drop = (
        target
        if target is not None
        else (
            "target" if "target" in columns and len(columns) == n_features + 1 else None
        )
    )
    keep = [i for i, name in enumerate(columns) if name != drop]
    if len(keep) != n_features:
        raise DataFileError(
            f"{source} has {len(keep)} feature columns but the model expects "
            f"{n_features}; columns: {columns}. Name a label column to drop with "
            "--target, or give the features the model was trained on."
        )
    return np.asarray(values)[:, keep]


def _read_csv(source: Path) -> tuple[list[str], np.ndarray[Any, Any]]:
    with source.open(newline="", encoding="utf-8-sig") as file:  # as load_file
        rows = [row for row in csv.reader(file) if row]
    if len(rows) < 2:
        raise DataFileError(f"{source} needs a header row and at least one data row.")
    header, body = rows[0], rows[1:]
    table = np.full((len(body), len(header)), np.nan)
    for r, row in enumerate(body):
        if len(row) != len(header):
            raise DataFileError(
                f"{source}: line {r + 2} has {len(row)} fields; the header has "
                f"{len(header)}."
            )
        for c, cell in enumerate(row):
            try:
                table[r, c] = float(cell) if cell.strip() else np.nan
            except ValueError:
                table[r, c] = np.nan  # a text label column; only features are checked
    return header, table


def _named_array(names: list[str], x_key: str | None, source: Path) -> str:
    if x_key is not None:
        if x_key not in names:
            raise DataFileError(f"{source} has no array {x_key!r}; it holds {names}.")
        return x_key
    for candidate in ("X", *[n for n in names if n.endswith("_x")]):
        if candidate in names:
            return candidate
    if len(names) == 1:
        return names[0]
    raise DataFileError(
        f"{source} holds {names}; name the features with --x-key (e.g. --x-key "
        f"{names[0]})."
    )


def load_features(
    path: str | Path,
    n_features: int,
    *,
    target: str | None = None,
    x_key: str | None = None,
    feature_names: list[str] | None = None,
    notes: list[str] | None = None,
) -> np.ndarray[Any, Any]:
    """Load a 2-D float array of ``n_features`` columns to predict on.

    CSV and Parquet: with ``feature_names`` (the model's), columns are matched by
    name in any order (a note is added to ``notes`` when they were reordered), the
    label column ``target`` is ignored, and a missing or unknown column is an error.
    Without names every column is a feature, except ``target`` (or a column named
    "target" when there is exactly one column too many). ``.npy``: a 2-D array.
    ``.npz`` and HDF5: the array ``x_key`` (default ``X`` or the one ``*_x``); images
    are flattened to rows.

    Raises:
        ValueError: for a missing file, unknown type, wrong column count or NaN.
    """
    source = Path(path)
    if not source.is_file():
        raise DataFileError(f"input file {source} does not exist.")
    suffix = source.suffix.lower()
    if suffix == ".csv":
        columns, table = _read_csv(source)
        X = _from_table(
            columns, table, n_features, target, source, feature_names, notes
        )
    elif suffix == ".parquet":
        pandas = require("pandas", "Reading Parquet")
        frame = pandas.read_parquet(source)
        X = _from_table(
            [str(c) for c in frame.columns],
            frame.to_numpy(dtype=float, na_value=np.nan),
            n_features,
            target,
            source,
            feature_names,
            notes,
        )
    elif suffix == ".npy":
        X = np.load(source, allow_pickle=False)
    elif suffix == ".npz":
        with np.load(source, allow_pickle=False) as archive:
            X = archive[_named_array(list(archive.files), x_key, source)]
    elif suffix in (".h5", ".hdf5"):
        h5py = require("h5py", "Reading HDF5")
        with h5py.File(source, "r") as file:
            names = [name for name in file if isinstance(file[name], h5py.Dataset)]
            X = file[_named_array(names, x_key, source)][()]
    else:
        raise DataFileError(
            f"{source} has an unsupported type {suffix!r}; expected .csv, .parquet, "
            ".npy, .npz, .h5 or .hdf5."
        )
    X = np.asarray(X)
    if X.ndim < 2 or X.dtype.kind not in "biuf":
        raise DataFileError(
            f"{source}: expected numeric features of shape (examples, features); got "
            f"shape {X.shape} and dtype {X.dtype}."
        )
    X = X.reshape(len(X), -1).astype(np.float64)
    if X.shape[1] != n_features:
        raise DataFileError(
            f"{source} has {X.shape[1]} features per example but the model expects "
            f"{n_features}."
        )
    bad = ~np.all(np.isfinite(X), axis=1)
    if bad.any():
        raise DataFileError(
            f"{source}: {int(bad.sum())} row(s) have NaN or infinite features (first "
            f"data row {int(np.flatnonzero(bad)[0]) + 1}); drop or impute them."
        )
    return X


def save_predictions(
    path: str | Path,
    labels: Any,
    probabilities: Any = None,
    class_names: list[str] | None = None,
) -> Path:
    """Write predictions (and class probabilities) as CSV or ``.npz``, atomically."""
    destination = Path(path)
    suffix = destination.suffix.lower()
    labels = np.asarray(labels)
    if suffix == ".npz":
        buffer = io.BytesIO()
        arrays = {"prediction": labels}
        if probabilities is not None:
            arrays["probabilities"] = np.asarray(probabilities)
        np.savez(buffer, **arrays)
        atomic_write_bytes(destination, buffer.getvalue())
        return destination
    if suffix != ".csv":
        raise DataFileError(
            f"predictions are written as .csv or .npz; got {destination.name}."
        )
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    header = (
        ["prediction"]
        if labels.ndim == 1
        else [f"prediction_{i}" for i in range(labels.shape[1])]
    )
    if probabilities is not None:
        header += [f"p_{name}" for name in (class_names or [])]
    writer.writerow(header)
    for index in range(len(labels)):
        row = [str(v) for v in np.atleast_1d(labels[index])]
        if probabilities is not None:
            row += [repr(float(p)) for p in probabilities[index]]
        writer.writerow(row)
    atomic_write_bytes(destination, text.getvalue().encode("utf-8"))
    return destination
