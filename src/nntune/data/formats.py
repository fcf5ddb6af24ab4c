"""Readers and writers of tables (CSV, Parquet), and what every format shares.

A reader turns a file into :class:`RawData` (features, raw labels, class names when the
file stores them); a writer turns a :class:`~nntune.data.datasets.Dataset` into the
bytes of a file. NumPy and HDF5 files are in :mod:`nntune.data.array_formats`;
validation, label encoding and atomic writes in :mod:`nntune.data.io`. pandas and
pyarrow are imported only when Parquet is used, or to read a large CSV file.
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import io
from collections.abc import Callable, Generator
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from .datasets import Dataset


class DataFileError(ValueError):
    """A data file is missing, damaged or does not hold a labelled data set."""


class MissingExtraError(ImportError, ValueError):
    """An optional dependency is not installed (also a ValueError: a usage mistake)."""


class RawData(NamedTuple):
    """What a reader found, before validation: features, labels, class names."""

    X: np.ndarray[Any, Any]
    labels: np.ndarray[Any, Any]
    class_names: tuple[str, ...] | None = None
    x_name: str = "X"
    y_name: str = "y"
    feature_names: tuple[str, ...] | None = None
    target_name: str | None = None


def require(module: str, purpose: str) -> ModuleType:
    """Import an optional dependency, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"{purpose} needs {module}, which is not installed. Install the data "
            'extra: pip install "nntune[data]".'
        ) from None


def unreadable(source: Path, kind: str, error: BaseException) -> DataFileError:
    """The error for a file a library could not parse: the path, not a traceback."""
    return DataFileError(
        f"could not read {source} as {kind}: {error}. The file is damaged, "
        f"truncated or not {kind}; write it again (nntune.save_file writes every "
        "supported format)."
    )


def feature_names(n_features: int, target: str) -> list[str]:
    """Column names ``x0, x1, ...`` for files that name columns."""
    names = [f"x{i}" for i in range(n_features)]
    if target in names:
        raise ValueError(
            f"target column name {target!r} is also the name of a feature column "
            f"(features are named x0..x{n_features - 1}); choose another target name."
        )
    return names


# CSV ---------------------------------------------------------------------------------


def csv_rows(source: Path) -> Generator[tuple[int, list[str]], None, None]:
    """``(line number, fields)`` of each non-empty line, read as it streams by."""
    try:
        with source.open(newline="", encoding="utf-8-sig") as file:
            reader = csv.reader(file)
            for row in reader:
                if row:
                    yield reader.line_num, row
    except (UnicodeDecodeError, csv.Error) as error:
        raise unreadable(source, "UTF-8 CSV text", error) from None


def read_csv(source: Path, target: str | None, x_key: Any, y_key: Any) -> RawData:
    """A header row, then one example per line; ``target`` names the label column.

    Large files are read by pyarrow (1 MiB or more), else pandas (16 MiB), when
    installed, streamed into one float64 array (:mod:`nntune.data.csv_engines`), with
    the very result of :func:`read_csv_python`; that reads every other file, and
    every file the engines would read otherwise (its errors say where and how to fix).
    """
    from .csv_engines import read_csv_fast

    raw = read_csv_fast(source, target)
    return raw if raw is not None else read_csv_python(source, target, x_key, y_key)


def read_csv_python(
    source: Path, target: str | None, x_key: Any, y_key: Any
) -> RawData:
    """:func:`read_csv` with Python's csv module alone.

    The file is streamed twice (count the rows, then parse each into a preallocated
    array), so the memory it takes is that of the parsed arrays, not of the text.
    """
    rows = csv_rows(source)
    first = next(rows, None)
    count = sum(1 for _ in rows)
    if first is None or count == 0:
        raise DataFileError(
            f"{source} needs a header row and at least one data row; it has "
            f"{0 if first is None else 1} non-empty line(s)."
        )
    header = first[1]
    name = target if target is not None else header[-1]
    if name not in header:
        raise DataFileError(
            f"{source} has no column {name!r}; its columns are {header}. Pass "
            "--target (target=) with one of them."
        )
    column = header.index(name)
    features = [i for i in range(len(header)) if i != column]
    X = np.empty((count, len(features)))
    labels: list[str] = []
    empty: list[int] = []
    body = csv_rows(source)
    next(body)  # the header
    parsed = 0
    for r, (line, row) in enumerate(body):
        parsed = r + 1
        if r >= count:
            break  # the file grew while it was read: refused below
        if len(row) != len(header):
            raise DataFileError(
                f"{source}: line {line} has {len(row)} fields; the header has "
                f"{len(header)}. Quote fields that contain commas."
            )
        for j, i in enumerate(features):
            cell = row[i]
            try:
                X[r, j] = float(cell) if cell.strip() else np.nan
            except ValueError:
                raise DataFileError(
                    f"{source}: column {header[i]!r} is not numeric (line {line}: "
                    f"{cell!r}). Encode categories as numbers or drop the column."
                ) from None
        label = row[column].strip()
        if not label:
            empty.append(line)
        labels.append(label)
    if parsed != count:
        raise DataFileError(
            f"{source} changed while it was read ({count} rows, then {parsed}); "
            "read it again once it is written."
        )
    if empty:
        raise DataFileError(
            f"{source}: target column {name!r} is empty on {len(empty)} line(s) "
            f"(first: line {empty[0]}). Drop those rows or fill in their labels."
        )
    values = np.array(labels)
    del labels
    with contextlib.suppress(ValueError):  # text class names stay text
        values = values.astype(np.float64)
    names = tuple(header[i] for i in features)
    return RawData(X, values, None, "features", repr(name), names, name)


def write_csv(data: Dataset, target: str, x_key: str, y_key: str) -> bytes:
    """Features as ``x0, x1, ...`` (shortest exact decimals), then the target."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*feature_names(data.n_features, target), target])
    # Class names as text (reading encodes them in sorted order); targets as the
    # shortest decimals that read back to the same float64.
    labels: list[str] = (
        [data.class_names[code] for code in data.y.tolist()]
        if data.class_names
        else [repr(float(value)) for value in data.y.tolist()]
    )
    for row, label in zip(data.X.tolist(), labels, strict=True):
        writer.writerow([*map(repr, row), label])
    return buffer.getvalue().encode("utf-8")


# Parquet -----------------------------------------------------------------------------


def read_parquet(source: Path, target: str | None, x_key: Any, y_key: Any) -> RawData:
    """A table; ``target`` names the label column, a categorical keeps class order."""
    pd = require("pandas", "Reading Parquet")
    require("pyarrow", "Reading Parquet")
    try:
        frame = pd.read_parquet(source, engine="pyarrow")
    except Exception as error:
        raise unreadable(source, "Parquet", error) from None
    columns = [str(c) for c in frame.columns]
    name = target if target is not None else (columns[-1] if columns else "")
    if name not in columns:
        raise DataFileError(
            f"{source} has no column {name!r}; its columns are {columns}. Pass "
            "--target (target=) with one of them."
        )
    frame.columns = columns
    X = np.empty((len(frame), len(columns) - 1))
    for j, column in enumerate(c for c in columns if c != name):
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values.dtype):
            X[:, j] = values.to_numpy(dtype=np.float64, na_value=np.nan)
            continue
        values = values.astype(object)
        numbers = pd.to_numeric(values, errors="coerce")
        bad = np.flatnonzero(numbers.isna().to_numpy() & values.notna().to_numpy())
        if len(bad):
            raise DataFileError(
                f"{source}: column {column!r} is not numeric (row {bad[0] + 1}: "
                f"{values.iloc[bad[0]]!r}). Encode categories as numbers or drop "
                "the column."
            )
        X[:, j] = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    series = frame[name]
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        _check_no_missing_labels(source, name, codes < 0)
        names = tuple(str(c) for c in series.cat.categories)
        return RawData(
            X,
            codes.astype(np.int64),
            names,
            "features",
            repr(name),
            tuple(c for c in columns if c != name),
            name,
        )
    _check_no_missing_labels(source, name, series.isna().to_numpy())
    if pd.api.types.is_numeric_dtype(series.dtype):
        labels = series.to_numpy(dtype=np.float64)
    else:
        labels = np.array([str(value) for value in series])
    features = tuple(c for c in columns if c != name)
    return RawData(X, labels, None, "features", repr(name), features, name)


def _check_no_missing_labels(source: Path, name: str, missing: Any) -> None:
    if missing.any():
        rows = np.flatnonzero(missing)
        raise DataFileError(
            f"{source}: target column {name!r} is missing in {len(rows)} row(s) "
            f"(first: row {rows[0] + 1}). Drop those rows or fill in their labels."
        )


def write_parquet(data: Dataset, target: str, x_key: str, y_key: str) -> bytes:
    """Features as float64 columns ``x0, x1, ...``; class labels as a categorical."""
    pd = require("pandas", "Writing Parquet")
    require("pyarrow", "Writing Parquet")
    frame = pd.DataFrame(data.X, columns=feature_names(data.n_features, target))
    if data.class_names:
        frame[target] = pd.Categorical.from_codes(
            data.y, categories=list(data.class_names)
        )
    else:
        frame[target] = np.asarray(data.y, dtype=np.float64)
    payload: bytes = frame.to_parquet(None, engine="pyarrow", index=False)
    return payload


class Format(NamedTuple):
    """How to read and write one kind of file."""

    kind: str
    read: Callable[[Path, Any, Any, Any], RawData]
    write: Callable[[Dataset, Any, str, str], bytes]
    named_arrays: bool  # x_key/y_key choose the arrays; else target picks a column
