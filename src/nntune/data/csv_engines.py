"""CSV files read by pyarrow or pandas, with exactly the Python reader's result.

:func:`nntune.data.formats.read_csv` asks :func:`read_csv_fast` first. It parses the
file with pyarrow's CSV reader (else pandas' C parser), streams it batch by batch
into one float64 array (no Python object per cell or row) and returns the very
:class:`~nntune.data.formats.RawData` the Python reader would: the same features,
bit for bit, the same labels and names. Anything irregular makes it return
``None`` and the Python reader reads the file instead, so that every error (a short
row, a cell that is not a number, an empty label, a NaN) is the Python reader's
message, with its line and column. That also covers what the engines read otherwise:
a duplicated column name, a missing value, ``1_000`` (Python's ``float`` reads it,
the engines do not), ``nan(1)``, ``True`` (pandas reads 1.0). Small files are not
worth importing an engine: the Python reader reads them faster.
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import warnings
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .formats import RawData, csv_rows

__all__ = ["ENGINES", "MIN_BYTES", "read_csv_fast"]

ENGINES = ("pyarrow", "pandas")
"""The engines tried, in order, when installed."""
MIN_BYTES = {"pyarrow": 1 << 20, "pandas": 16 << 20}
"""The smallest file each engine reads; below it, importing the engine costs more."""
_MODULES = {"pyarrow": "pyarrow.csv", "pandas": "pandas"}
# pyarrow reads about 35 blocks ahead: small blocks keep that small (9 MB).
_ARROW_BLOCK = 256 << 10
_PANDAS_ROWS = 65536

# (rows, feature columns as float64 arrays, labels) of one batch of a file.
_Batch = tuple[int, list[np.ndarray[Any, Any]], Any]


class _NotExactError(Exception):
    """The engine read something the Python reader reads otherwise: let it."""


def read_csv_fast(
    source: Path, target: str | None, *, engine: str | None = None
) -> RawData | None:
    """Read a CSV file with ``engine`` (default: the first installed), or None.

    None means: no engine is installed, the file is smaller than
    :data:`MIN_BYTES` (unless ``engine`` is given), or the file is not one that
    the engine reads exactly as the Python reader does; read it with that.
    """
    chosen = _engine(source, engine)
    if chosen is None:
        return None
    header = _header(source)
    if header is None or len(header) < 2 or len(set(header)) != len(header):
        return None  # duplicated names: the Python reader tells them apart by place
    name = target if target is not None else header[-1]
    if name not in header:
        return None  # the Python reader says which columns there are
    batches = _arrow_batches if chosen == "pyarrow" else _pandas_batches
    try:
        with contextlib.closing(batches(source, header, name)) as stream:
            return _collect(stream, header, name, _estimate_rows(source, len(header)))
    except (_NotExactError, ValueError, TypeError, OSError):
        # ValueError: the engines' parse errors (pyarrow.ArrowInvalid, pandas'
        # ParserError, UnicodeDecodeError) are ValueErrors.
        return None
    finally:
        if chosen == "pyarrow":
            # The blocks read are freed; give their memory back for the training.
            import pyarrow as pa

            pa.default_memory_pool().release_unused()


def _engine(source: Path, engine: str | None) -> str | None:
    if engine is not None and engine not in ENGINES:
        raise ValueError(f"unknown CSV engine {engine!r}; expected one of {ENGINES}.")
    candidates = ENGINES if engine is None else (engine,)
    try:
        size = source.stat().st_size
    except OSError:
        return None
    for candidate in candidates:
        if engine is None and size < MIN_BYTES[candidate]:
            continue
        try:
            importlib.import_module(_MODULES[candidate])
        except ImportError:
            continue
        return candidate
    return None


def _header(source: Path) -> list[str] | None:
    """The header row as the Python reader reads it; None if the file has none."""
    rows = csv_rows(source)
    try:
        first = next(rows, None)
    except ValueError:
        return None  # not UTF-8 CSV: the Python reader says so
    finally:
        rows.close()
    return None if first is None else first[1]


def _estimate_rows(source: Path, columns: int) -> int:
    """About the number of lines of a file, from those of its first megabyte.

    At most one a ``columns`` bytes: a row holds a comma between its fields and
    ends with a newline (short lines, blank ones, at the start do not make it huge).
    """
    size = source.stat().st_size
    with source.open("rb") as file:
        sample = file.read(1 << 20)
    if not sample:
        return 0
    lines = int(size / len(sample) * (sample.count(b"\n") + 1))
    return min(lines, size // columns + 1)


def _collect(
    batches: Iterator[_Batch], header: list[str], name: str, estimate: int
) -> RawData:
    """One C-ordered float64 array of the features, then the labels, of all batches.

    The array is allocated once for the rows the file seems to have (pages not
    written to take no memory), and grown or shrunk in place: realloc, which moves
    a large array's pages (mremap) rather than copying them, so there are never two
    copies of the features at once.
    """
    width = len(header) - 1
    X = np.empty((max(estimate + estimate // 16, 1024), width))
    labels = _Labels()
    count = 0
    for rows, columns, chunk in batches:
        if count + rows > len(X):
            X.resize((max(count + rows, 2 * len(X)), width), refcheck=False)
        _fill(X, count, columns)
        labels.add(chunk)
        count += rows
    if count == 0:
        raise _NotExactError  # the Python reader says that a data row is needed
    X.resize((count, width), refcheck=False)
    names = tuple(column for column in header if column != name)
    return RawData(X, labels.result(), None, "features", repr(name), names, name)


def _fill(
    X: np.ndarray[Any, Any], start: int, columns: list[np.ndarray[Any, Any]]
) -> None:
    # The view ends with this call: X is resized in place after it.
    rows = X[start : start + len(columns[0])]
    for j, column in enumerate(columns):
        rows[:, j] = column
    # NaN (an empty cell, "nan") or inf: the Python reader's error, or its check's.
    if not np.isfinite(rows).all():
        raise _NotExactError


class _Labels:
    """The Python reader's labels, batch by batch: stripped text, or numbers.

    Labels are numbers when all of them are. Batches are kept as float64 while
    pyarrow reads them as finite numbers (no text kept: a regression target takes
    8 bytes a row), as stripped text from the first batch it does not. Text that is
    not numbers after batches of numbers makes the Python reader read the file (the
    numbers' text is gone); that is rare.
    """

    def __init__(self) -> None:
        self.numbers: list[np.ndarray[Any, Any]] = []
        self.texts: list[np.ndarray[Any, Any]] = []

    def add(self, chunk: Any) -> None:
        if not self.texts:
            numbers = _arrow_numbers(chunk)
            if numbers is not None:
                self.numbers.append(numbers)
                return
        self.texts.append(_stripped(chunk))

    def result(self) -> np.ndarray[Any, Any]:
        if not self.texts:
            return np.concatenate(self.numbers)
        text = np.concatenate(self.texts)
        try:
            numbers = text.astype(np.float64)
        except ValueError:  # text class names stay text
            if self.numbers:
                raise _NotExactError from None
            return text
        return np.concatenate([*self.numbers, numbers])


def _stripped(chunk: Any) -> np.ndarray[Any, Any]:
    raw = chunk if isinstance(chunk, list) else chunk.to_pylist()
    limit = csv.field_size_limit()
    if not all(isinstance(label, str) and len(label) <= limit for label in raw):
        raise _NotExactError  # a missing field, or one the csv module refuses
    stripped = [label.strip() for label in raw]
    if not all(stripped):
        raise _NotExactError  # empty labels: the Python reader names their lines
    return np.array(stripped)


def _arrow_numbers(chunk: Any) -> np.ndarray[Any, Any] | None:
    """Labels pyarrow reads as finite numbers, else None (then read as text).

    pyarrow casts ``[+-]digits[.digits][e[+-]digits]`` (and nan, inf) correctly
    rounded, as NumPy (Python) parses the same text; no whitespace, which the
    Python reader would strip. NaN and inf go the text way, where "nan(1)" stays
    text as it does in NumPy.
    """
    if isinstance(chunk, list):
        return None  # pandas gives text
    import pyarrow as pa

    try:
        numbers = _values(chunk.cast(pa.float64()))
    except ValueError:  # pyarrow.ArrowInvalid: a label that is not a number
        return None
    return numbers if np.isfinite(numbers).all() else None


# pyarrow ----------------------------------------------------------------------------


def _arrow_batches(
    source: Path, header: list[str], name: str
) -> Generator[_Batch, None, None]:
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    types = {column: pa.float64() for column in header}
    types[name] = pa.string()
    options = pa_csv.ConvertOptions(
        column_types=types,
        null_values=[""],  # only an empty cell is missing ("NA" is not a number)
        strings_can_be_null=False,
        quoted_strings_can_be_null=True,
    )
    reader = pa_csv.open_csv(
        str(source),
        read_options=pa_csv.ReadOptions(block_size=_ARROW_BLOCK),
        # Quoted values may hold newlines, as the csv module allows.
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=options,
    )
    with reader:
        if reader.schema.names != header:
            raise _NotExactError
        features = [i for i, column in enumerate(header) if column != name]
        label = header.index(name)
        for batch in reader:
            columns = [batch.column(i) for i in features]
            yield (batch.num_rows, [_values(c) for c in columns], batch.column(label))


def _values(column: Any) -> np.ndarray[Any, Any]:
    """A float64 column without nulls as a NumPy view of its buffer.

    ``to_numpy`` would do, but leaves memory behind (about 30 MB for 200 MB of CSV).
    """
    if column.null_count:
        raise _NotExactError  # an empty cell: NaN, refused with its row
    return np.frombuffer(
        column.buffers()[1], np.float64, len(column), column.offset * 8
    )


# pandas -----------------------------------------------------------------------------


def _pandas_batches(
    source: Path, header: list[str], name: str
) -> Generator[_Batch, None, None]:
    import pandas as pd

    if _mentions_booleans(source):
        raise _NotExactError  # pandas reads True and False in number columns as 1 and 0
    types: dict[str, Any] = {column: np.float64 for column in header}
    types[name] = object
    options: dict[str, Any] = {}
    if _version(pd.__version__) < (3, 1):
        options["float_precision"] = "round_trip"  # correctly rounded, as Python
    features = [column for column in header if column != name]
    with _refuse(pd.errors.ParserWarning):
        reader = pd.read_csv(
            source,
            header=0,
            index_col=False,
            dtype=types,
            encoding="utf-8-sig",
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,  # pandas skips lines of spaces too; csv does not
            chunksize=_PANDAS_ROWS,
            engine="c",
            **options,
        )
    with reader:
        while True:
            # A first row longer than the header warns, and is cut: refused instead.
            with _refuse(pd.errors.ParserWarning):
                try:
                    frame = next(reader, None)
                except pd.errors.ParserWarning:
                    raise _NotExactError from None
            if frame is None:
                return
            if [str(column) for column in frame.columns] != header:
                raise _NotExactError
            yield (
                len(frame),
                [frame[column].to_numpy(dtype=np.float64) for column in features],
                frame[name].to_numpy(dtype=object).tolist(),
            )


@contextlib.contextmanager
def _refuse(category: type[Warning]) -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", category)
        yield


def _mentions_booleans(source: Path) -> bool:
    """Whether a line after the first holds true or false, in any case."""
    tail = b""
    with source.open("rb") as file:
        file.readline()  # the header
        while block := file.read(16 << 20):
            text = tail + block.lower()
            if b"true" in text or b"false" in text:
                return True
            tail = text[-4:]
    return False


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split(".")[:2]:
        digits = "".join(c for c in part if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)
