"""Out-of-core data: a 2-D array in a file, read a few rows at a time.

:class:`MappedArray` stands in for ``X`` when ``X`` is larger than the memory a run
should use. It indexes like a NumPy array of rows (``x[rows]``, ``x[start:stop]``,
``x[..., start:stop, :]``) and reads exactly the rows asked for with ``os.preadv``
(the rows of a mini-batch sorted, runs of neighbouring rows in one read, then put
back in the order asked for), so the memory it takes is that of the rows it returns.
Reading through an ``np.memmap`` instead would leave every page read mapped, and the
process would grow toward the size of the file over an epoch.

:meth:`nntune.Sequential.prepare` (and so :func:`nntune.fit`, ``predict``...) reads a
:class:`MappedArray`, or an ``np.memmap`` such as ``np.load(path, mmap_mode="r")``,
out of core when it has more than :data:`IN_MEMORY_ROWS` rows: it checks the values
are finite one chunk at a time, once, and keeps class labels as small integers
(:class:`~nntune.data.targets.ClassTargets`) rather than one-hot rows. Training then
draws the same shuffles and trains bit for bit the same weights as on the array in
memory.
"""

from __future__ import annotations

import mmap
import os
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["IN_MEMORY_ROWS", "MappedArray", "open_mapped", "out_of_core"]

CHUNK_BYTES = 1 << 23
"""Bytes of rows read at once by :meth:`MappedArray.chunks` (8 MiB)."""

IN_MEMORY_ROWS = 4096
"""Data of at most this many rows is read into memory by ``prepare``: training
evaluates a set this small whole (``nntune.training.evaluation.EVALUATION_ROWS``)."""

_NUMERIC = "biuf"


class MappedArray:
    """A 2-D array of rows in a file, read on demand; indexing returns NumPy arrays.

    Open a ``.npy`` file (or wrap an ``np.memmap``) with :func:`open_mapped`; the
    constructor reads a raw file of C-ordered rows at byte ``offset``. Values are
    read in the file's dtype and returned in :attr:`dtype` (see :meth:`astype`).
    ``np.asarray(mapped)`` reads the whole file into memory.

    Args:
        path: the file.
        shape: ``(n_rows, n_columns)``.
        dtype: the dtype of the values in the file (integer, float or bool).
        offset: where the first row starts, in bytes.

    Raises:
        ValueError: for a shape that is not 2-D, a non-numeric dtype, or a file too
            short for the shape.

    Example:
        >>> import tempfile, numpy as np
        >>> from nntune.data import open_mapped
        >>> path = tempfile.mkdtemp() + "/X.npy"
        >>> np.save(path, np.arange(12, dtype=np.float32).reshape(6, 2))
        >>> x = open_mapped(path)
        >>> x  # doctest: +ELLIPSIS
        MappedArray('.../X.npy', shape=(6, 2), dtype=float32)
        >>> x[np.array([4, 1])].tolist(), x[..., 0:2, :].tolist()
        ([[8.0, 9.0], [2.0, 3.0]], [[0.0, 1.0], [2.0, 3.0]])
        >>> x.close()
    """

    def __init__(
        self, path: str | os.PathLike[str], *, shape: Any, dtype: Any, offset: int = 0
    ) -> None:
        self._source = _Source(Path(path), tuple(shape), np.dtype(dtype), int(offset))
        self._dtype = _numeric(np.dtype(dtype).newbyteorder("="), "dtype")

    @property
    def path(self) -> Path:
        """The file read."""
        return self._source.path

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_rows, n_columns)``."""
        return self._source.shape

    @property
    def ndim(self) -> int:
        """Always 2."""
        return 2

    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype of the arrays that indexing returns."""
        return self._dtype

    @property
    def file_dtype(self) -> np.dtype[Any]:
        """The dtype of the values in the file."""
        return self._source.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return (
            f"MappedArray({str(self.path)!r}, shape={self.shape}, "
            f"dtype={self.dtype.name})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # A file descriptor means nothing in another process: open the file again.
        source = self._source
        return (
            _reopen,
            (
                str(source.path),
                source.shape,
                source.dtype.str,
                source.offset,
                self.dtype.str,
            ),
        )

    def astype(self, dtype: Any) -> MappedArray:
        """The same file, its rows returned in ``dtype`` (converted when read)."""
        view = object.__new__(MappedArray)
        view._source, view._dtype = self._source, _numeric(np.dtype(dtype), "dtype")
        return view

    def __getitem__(self, key: Any) -> np.ndarray[Any, Any]:
        rows, columns = split_rows_key(key)
        n = self.shape[0]
        if isinstance(rows, int | np.integer):
            row = int(rows) + n if rows < 0 else int(rows)
            if not 0 <= row < n:
                raise IndexError(f"row {rows} is out of range for {n} rows.")
            found = self._source.read(row, row + 1)[0]
        elif isinstance(rows, slice):
            start, stop, step = rows.indices(n)
            if step == 1:
                found = self._source.read(start, max(start, stop))
            else:
                found = self._source.gather(np.arange(start, stop, step))
        else:
            found = self._source.gather(_row_indices(rows, n))
        found = found.astype(self.dtype, copy=False)
        return np.asarray(found[columns]) if columns else found

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> Any:
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype, copy=False)

    def chunks(
        self, rows: int | None = None
    ) -> Iterator[tuple[int, np.ndarray[Any, Any]]]:
        """Yield ``(start, block)``: all rows in order, ``rows`` at a time.

        The default reads about :data:`CHUNK_BYTES` per block.
        """
        n = self.shape[0]
        step = rows or max(1, CHUNK_BYTES // max(1, self._source.row_bytes))
        for start in range(0, n, step):
            yield start, self[start : min(n, start + step)]

    def check_finite(self) -> None:
        """Raise unless every value is finite (in :attr:`dtype`), reading in chunks.

        A file passes once per dtype: checking it again reads nothing.

        Raises:
            ValueError: naming the first row (counting from 0) with NaN or infinity.
        """
        if self.dtype.kind not in "fc" or self.dtype in self._source.finite:
            return
        with np.errstate(over="ignore"):  # too big for the dtype: reported as inf
            for start, block in self.chunks():
                bad = ~np.isfinite(block)
                if bad.any():
                    row, column = np.argwhere(bad)[0].tolist()
                    raise ValueError(
                        f"X (the file {self.path}) has a NaN or infinite value in "
                        f"row {start + row} (counting from 0), column {column}: "
                        f"{block[row, column]!r} as {self.dtype.name}; expected "
                        "finite numbers. Drop or impute that row (e.g. with the "
                        "training mean) and save the file again."
                    )
        self._source.finite.add(self.dtype)

    def close(self) -> None:
        """Close the file (also done when the last view of it is collected)."""
        self._source.close()

    def __enter__(self) -> MappedArray:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_mapped(source: Any, dtype: Any = None) -> MappedArray:
    """Open a 2-D ``.npy`` file (or an ``np.memmap`` of a file) to read out of core.

    Args:
        source: a path to a ``.npy`` file, an ``np.memmap`` (C-ordered rows of a file,
            e.g. ``np.load(path, mmap_mode="r")`` or a slice of rows of it), or a
            :class:`MappedArray`.
        dtype: return rows in this dtype (default: the file's).

    Returns:
        A :class:`MappedArray`; pass it to :func:`nntune.fit` as ``X``.

    Raises:
        ValueError: for a file that is not a 2-D, C-ordered ``.npy`` of numbers, or a
            memmap that is not C-ordered rows of a file.

    Example:
        >>> import tempfile, numpy as np, nntune
        >>> path = tempfile.mkdtemp() + "/X.npy"
        >>> np.save(path, np.random.default_rng(0).normal(size=(5000, 2)))
        >>> X = open_mapped(path, dtype=np.float32)
        >>> y = np.arange(5000) % 2
        >>> model = nntune.mlp([4]).init(2, seed=0)
        >>> history = nntune.fit(model, X, y, epochs=1, progress="silent")
        >>> model.predict(X).shape
        (5000,)
    """
    if isinstance(source, MappedArray):
        found = source
    elif isinstance(source, np.memmap):
        found = _from_memmap(source)
    elif isinstance(source, str | os.PathLike):
        found = _from_npy(Path(source))
    else:
        raise TypeError(
            f"open_mapped takes a path to a .npy file or an np.memmap; got a "
            f"{type(source).__name__}."
        )
    return found if dtype is None else found.astype(dtype)


def out_of_core(X: Any) -> MappedArray | None:
    """``X`` as a :class:`MappedArray` when it should be read out of core, else None.

    That is a :class:`MappedArray` or a memmap of C-ordered rows of a file, 2-D and
    with more than :data:`IN_MEMORY_ROWS` rows; any other memmap is an array.
    """
    if isinstance(X, MappedArray):
        return X if len(X) > IN_MEMORY_ROWS else None
    if (
        isinstance(X, np.memmap)
        and X.ndim == 2
        and len(X) > IN_MEMORY_ROWS
        and X.dtype.kind in _NUMERIC
        and _memmap_offset(X) is not None
    ):
        return _from_memmap(X)
    return None


class _Source:
    """An open file of C-ordered rows, shared by a MappedArray and its astype views."""

    def __init__(
        self, path: Path, shape: tuple[int, ...], dtype: np.dtype[Any], offset: int
    ) -> None:
        if len(shape) != 2 or any(
            isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0
            for n in shape
        ):
            raise ValueError(
                f"a MappedArray holds rows: shape (n_examples, n_features); got "
                f"{shape}. Reshape the data to 2-D (an np.memmap keeps mapped "
                "through .reshape(n_examples, -1))."
            )
        self.path, self.shape = path, (int(shape[0]), int(shape[1]))
        self.offset = offset
        self.dtype = _numeric(dtype, f"the file {path}'s dtype")
        self.row_bytes = shape[1] * self.dtype.itemsize
        self.finite: set[np.dtype[Any]] = set()
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        self._closer = weakref.finalize(self, os.close, self.fd)
        size = os.fstat(self.fd).st_size
        if size < offset + shape[0] * self.row_bytes:
            self.close()
            raise ValueError(
                f"{path} has {size} bytes; {shape[0]} rows of {shape[1]} "
                f"{self.dtype.name} from byte {offset} need "
                f"{offset + shape[0] * self.row_bytes}. Was it truncated? Write it "
                "again."
            )

    def close(self) -> None:
        self._closer()

    def read(self, start: int, stop: int) -> np.ndarray[Any, Any]:
        """Rows ``start:stop`` (in order), in one read."""
        out = np.empty((stop - start) * self.row_bytes, np.uint8)
        self._read_into(out.data, self.offset + start * self.row_bytes)
        return out.view(self.dtype).reshape(stop - start, self.shape[1])

    def gather(self, rows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Rows ``rows`` (in range), read sorted, each run of neighbours at once."""
        if not len(rows):
            return np.empty((0, self.shape[1]), self.dtype)
        unique, inverse = np.unique(rows, return_inverse=True)
        size = self.row_bytes
        out = np.empty(len(unique) * size, np.uint8)
        runs = np.flatnonzero(np.diff(unique, prepend=-2) != 1)  # where runs start
        ends = np.append(runs[1:], len(unique)) * size
        begins = runs * size
        offsets = unique[runs] * size + self.offset
        view, fd, preadv = out.data, self._open(), os.preadv
        for begin, end, offset in zip(
            begins.tolist(), ends.tolist(), offsets.tolist(), strict=True
        ):
            got = preadv(fd, [view[begin:end]], offset)
            if got != end - begin:  # a short read: finish it
                self._read_into(view[begin + got : end], offset + got)
        found = out.view(self.dtype).reshape(len(unique), self.shape[1])
        if len(unique) == len(rows) and bool(np.all(unique == rows)):
            return found  # already sorted and unique: no reordering copy
        return found[inverse.reshape(-1)]

    def _open(self) -> int:
        if not self._closer.alive:
            raise ValueError(f"{self.path} was closed; open it again to read it.")
        return self.fd

    def _read_into(self, buffer: memoryview, offset: int) -> None:
        fd, done, total = self._open(), 0, len(buffer)
        while done < total:
            got = os.preadv(fd, [buffer[done:]], offset + done)
            if got == 0:
                raise ValueError(
                    f"{self.path} ended at byte {offset + done}: it was truncated "
                    "after it was opened."
                )
            done += got


def split_rows_key(key: Any) -> tuple[Any, tuple[Any, ...]]:
    """``(rows, columns)`` of a 2-D index; ``columns`` is () when it takes them all."""
    parts = list(key) if isinstance(key, tuple) else [key]
    if any(part is Ellipsis for part in parts):
        at = next(i for i, part in enumerate(parts) if part is Ellipsis)
        parts[at : at + 1] = [slice(None)] * max(0, 3 - len(parts))
    if len(parts) > 2 or any(part is None or part is Ellipsis for part in parts):
        raise IndexError(
            f"index {key!r}: rows index as x[rows] or x[rows, columns] (with one "
            "Ellipsis allowed)."
        )
    rows = parts[0] if parts else slice(None)
    columns = tuple(parts[1:])
    if columns == (slice(None),):
        columns = ()
    return rows, ((Ellipsis, *columns) if columns else ())


def _row_indices(rows: Any, n: int) -> np.ndarray[Any, Any]:
    index = np.asarray(rows)
    if index.dtype == bool:
        if index.shape != (n,):
            raise IndexError(
                f"a boolean row mask needs shape ({n},); got {index.shape}."
            )
        return np.flatnonzero(index)
    if index.dtype.kind not in "iu" or index.ndim != 1:
        raise IndexError(
            f"rows are selected by an int, a slice, or a 1-D array of integers or "
            f"booleans; got an array of dtype {index.dtype} and shape {index.shape}."
        )
    index = np.where(index < 0, index + n, index) if index.dtype.kind == "i" else index
    if len(index) and (int(index.min()) < 0 or int(index.max()) >= n):
        raise IndexError(f"row indices out of range for {n} rows.")
    return index.astype(np.int64, copy=False)


def _numeric(dtype: np.dtype[Any], what: str) -> np.dtype[Any]:
    if dtype.kind not in _NUMERIC or dtype.shape or dtype.names:
        raise ValueError(
            f"{what} is {dtype}; expected numbers (float, integer or bool). Encode "
            "text or category columns as numbers and save the file again."
        )
    return dtype


def _reopen(
    path: str, shape: tuple[int, int], file_dtype: str, offset: int, dtype: str
) -> MappedArray:
    return MappedArray(path, shape=shape, dtype=file_dtype, offset=offset).astype(dtype)


def _from_npy(path: Path) -> MappedArray:
    fmt = np.lib.format
    try:
        with path.open("rb") as file:
            version = fmt.read_magic(file)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"unsupported .npy format version {version}")
            read_header = (
                fmt.read_array_header_1_0
                if version == (1, 0)
                else fmt.read_array_header_2_0
            )
            shape, fortran_order, dtype = read_header(file)
            offset = file.tell()
    except ValueError as error:
        raise ValueError(
            f"{path} could not be read as a .npy file ({error}); open_mapped reads "
            "files written by np.save or np.lib.format.open_memmap."
        ) from None
    if fortran_order and len(shape) == 2 and min(shape) > 1:
        raise ValueError(
            f"{path} holds its array in Fortran (column) order; rows must be "
            "contiguous. Save it again with np.save(path, np.ascontiguousarray(X))."
        )
    if len(shape) != 2:
        raise ValueError(
            f"{path} holds an array of shape {shape}; expected 2-D (n_examples, "
            "n_features). Save it as 2-D, or pass np.load(path, mmap_mode='r')"
            ".reshape(n_examples, -1), which stays mapped."
        )
    return MappedArray(path, shape=shape, dtype=dtype, offset=offset)


def _from_memmap(array: np.memmap[Any, Any]) -> MappedArray:
    offset = _memmap_offset(array)
    if offset is None or array.ndim != 2:
        raise ValueError(
            f"this np.memmap (shape {array.shape}, mode {array.mode!r}) is not 2-D "
            "C-ordered rows of a file read as they are on disk; pass the path of the "
            "file, or np.load(path, mmap_mode='r') and whole rows of it."
        )
    return MappedArray(
        str(array.filename), shape=array.shape, dtype=array.dtype, offset=offset
    )


def _memmap_offset(array: np.memmap[Any, Any]) -> int | None:
    """The byte in its file where ``array`` starts, or None.

    None when it is not C-ordered rows of a file as they are on disk (a private
    copy-on-write map, strided columns...).
    """
    if array.filename is None or array.mode == "c" or not array.flags.c_contiguous:
        return None
    base: Any = array.base
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "base", None)
    if base is None or len(base) == 0:
        return None
    # np.memmap maps its file from `offset` rounded down to the allocation
    # granularity; a slice of rows of it starts further into that mapping.
    mapped_from = array.offset - array.offset % mmap.ALLOCATIONGRANULARITY
    start = np.frombuffer(base, np.uint8, count=1).ctypes.data
    return int(mapped_from + array.ctypes.data - start)
