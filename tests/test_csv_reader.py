"""CSV reading: pyarrow and pandas give exactly what the Python reader gives.

``read_csv`` reads large files with pyarrow (else pandas) and everything else, and
every file those engines would read otherwise, with the Python reader. Each engine
is compared with the Python reader on tricky files (bit for bit, labels, names), and
files the engines must not read (missing values, text in a number column, short
rows...) must give the Python reader's error through ``load_file``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nntune.data import csv_engines, formats
from nntune.data.csv_engines import ENGINES, read_csv_fast
from nntune.data.formats import RawData, read_csv_python
from nntune.data.io import load_file


@pytest.fixture(params=ENGINES)
def engine(request):
    pytest.importorskip(request.param)
    return request.param


@pytest.fixture
def any_size(monkeypatch):
    """Engines read files of any size (they skip small ones by default)."""
    monkeypatch.setattr(csv_engines, "MIN_BYTES", dict.fromkeys(ENGINES, 0))


def write(folder: Path, text: str | bytes, name: str = "d.csv") -> Path:
    path = folder / name
    if isinstance(text, str):
        path.write_bytes(text.encode("utf-8"))
    else:
        path.write_bytes(text)
    return path


def assert_same_raw(fast: RawData, python: RawData) -> None:
    assert fast.X.dtype == python.X.dtype == np.float64
    assert fast.X.shape == python.X.shape
    assert fast.X.tobytes() == python.X.tobytes()  # bit for bit, -0.0 included
    assert fast.X.flags.c_contiguous
    assert fast.labels.dtype == python.labels.dtype
    assert fast.labels.shape == python.labels.shape
    assert fast.labels.tobytes() == python.labels.tobytes()
    assert fast[2:] == python[2:]  # class names, names of X and y, features, target


def read_both(path: Path, engine: str, target: str | None = None):
    python = read_csv_python(path, target, None, None)
    return read_csv_fast(path, target, engine=engine), python


def awkward_floats(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, size=n)
    values[:6] = [1 / 3, 0.1, -0.0, 5e-324, 1.7976931348623157e308, -2.5e-310]
    formats_ = [repr, "{:.6g}".format, "{:.17e}".format, "{:.3f}".format]
    return [formats_[i % 4](float(v)) for i, v in enumerate(values)]


# Files the engines read, exactly as the Python reader does ---------------------------

READABLE = {
    "numbers and integer labels": "a,b,y\n1.5,2,0\n-3,4e-3,1\n5.,.5,0\n",
    "string labels": "x1,x2,animal\n4.1,25,cat\n30,60,dog\n3.9,24,cat\n",
    "regression targets": "a,target\n1,0.1\n2,-0.25\n3,1e5\n4,-0\n",
    "labels padded with spaces": "a,y\n1, 1.5\n2,2.5 \n3,\t7\n",
    "text labels padded": "a,y\n1, cat\n2,dog \n3,  cat\n",
    "R's write.csv (all quoted)": '"x1","x2","label"\n1,2,"yes"\n3,4,"no"\n',
    "quoted fields": 'a,b,y\n"1.5","2",cat\n"3",4,"dog, black"\n5,6,"say ""hi"""\n',
    "newline in a quoted label": 'a,y\n1,"two\nlines"\n2,one\n3,"two\nlines"\n',
    "quotes inside fields": 'a,y\n1,a"b\n2,"ab"c\n3," x"\n',
    "numbers with signs and spaces": "a,b,y\n +1 ,-0,0\n1e-400,1E+5,1\n00012, 3 ,0\n",
    "CRLF line ends": "a,b,y\r\n1,2,0\r\n3,4,1\r\n",
    "BOM": "\ufeffa,b,y\n1,2,0\n3,4,1\n",
    "no newline at the end": "a,b,y\n1,2,0\n3,4,1",
    "unicode names and labels": "größe,höhe,art\n1,2,Kätzchen\n3,4,狗\n",
    "long labels": "a,y\n1," + "x" * 5000 + "\n2,short\n",
    "numeric text then more": "a,y\n1,10\n2,9.5\n3,1_000\n",
}


@pytest.mark.parametrize("text", READABLE.values(), ids=READABLE.keys())
def test_engine_reads_as_the_python_reader(tmp_path, engine, text):
    fast, python = read_both(write(tmp_path, text), engine)
    assert fast is not None, "the engine should read this file"
    assert_same_raw(fast, python)


@pytest.mark.parametrize("target", ["a", "b", "y"])
def test_target_column_anywhere(tmp_path, engine, target):
    path = write(tmp_path, "a,b,y\n1,2,0\n3,4,1\n5,6,0\n")
    fast, python = read_both(path, engine, target)
    assert fast is not None
    assert_same_raw(fast, python)
    assert fast.target_name == target


def test_blank_lines_are_skipped_as_by_the_python_reader(tmp_path, engine):
    path = write(tmp_path, "\na,b,y\n\n1,2,0\n\n3,4,1\n\n\n")
    fast, python = read_both(path, engine)
    if engine == "pandas":
        assert fast is None  # pandas would skip lines of spaces too: left to Python
    else:
        assert fast is not None
        assert_same_raw(fast, python)


def test_awkward_floats_bit_for_bit(tmp_path, engine):
    cells = awkward_floats(3000)
    rows = [f"{cells[i]},{cells[i + 1]},{i % 3}" for i in range(0, len(cells) - 1, 2)]
    fast, python = read_both(write(tmp_path, "a,b,y\n" + "\n".join(rows)), engine)
    assert fast is not None
    assert_same_raw(fast, python)


def test_many_batches_and_a_wrong_row_estimate(tmp_path, engine, monkeypatch):
    """Batches of 256 KiB (pyarrow) or 65536 rows (pandas); the array grows in place."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((70_000, 4))
    labels = np.where(X[:, 0] > 0, "up", "down")
    rows = zip(X.tolist(), labels, strict=True)
    lines = [",".join(map(repr, row)) + f",{y}" for row, y in rows]
    path = write(tmp_path, "a,b,c,d,y\n" + "\n".join(lines) + "\n")
    python = read_csv_python(path, None, None, None)
    for estimate in (None, 10, 10**7):
        if estimate is not None:
            monkeypatch.setattr(
                csv_engines, "_estimate_rows", lambda *_, rows=estimate: rows
            )
        fast = read_csv_fast(path, None, engine=engine)
        assert fast is not None
        assert_same_raw(fast, python)


def test_numbers_then_text_labels(tmp_path, engine, monkeypatch):
    """Labels pyarrow reads as numbers in the first batches, text later.

    pyarrow keeps no text of labels it reads as numbers: the Python reader reads
    such a file. pandas gives text: it reads it.
    """
    monkeypatch.setattr(csv_engines, "_ARROW_BLOCK", 4096)
    monkeypatch.setattr(csv_engines, "_PANDAS_ROWS", 100)
    lines = [f"{i},{i % 2}" for i in range(2000)] + ["2000,cat"]
    path = write(tmp_path, "a,y\n" + "\n".join(lines) + "\n")
    fast, python = read_both(path, engine)
    if engine == "pyarrow":
        assert fast is None
    else:
        assert fast is not None
        assert_same_raw(fast, python)
    # ... and numbers after numbers that pyarrow does not read stay numbers.
    lines[-1] = "2000, 1 "
    path = write(tmp_path, "a,y\n" + "\n".join(lines) + "\n")
    fast, python = read_both(path, engine)
    assert fast is not None
    assert_same_raw(fast, python)
    assert python.labels.dtype == np.float64


# Files the engines leave to the Python reader: the same result or the same error ----

IRREGULAR = {
    "empty cell": "a,b,y\n1,,0\n3,4,1\n",
    "text in a number column": "a,y\n1,0\nx,1\n",
    "NA is not a number": "a,y\n1,0\nNA,1\n",
    "nan": "a,y\n1,0\nnan,1\n",
    "nan(1)": "a,y\n1,0\nnan(1),1\n",
    "inf": "a,y\n1,0\n-inf,1\n",
    "True in a number column": "a,y\n1,0\nTrue,1\n",
    "a column of booleans": "a,y\nTrue,0\nfalse,1\n",
    "underscores (Python reads them)": "a,y\n1_000,0\n2,1\n",
    "non-ASCII digits (Python reads them)": "a,y\n١٢,0\n2,1\n",
    "cell of spaces": "a,b,y\n1,  ,0\n3,4,1\n",
    "short row": "a,b,y\n1,2,0\n3,1\n",
    "long row": "a,y\n1,2\n4,5,6\n",
    "long first row": "a,y\n1,2,3\n4,5\n",
    "line of spaces": "a,y\n1,0\n   \n2,1\n",
    "empty label": "a,y\n1,\n2,1\n",
    "label of spaces": "a,y\n1,  \n2,1\n",
    "duplicated column names": "a,a,y\n1,2,0\n3,4,1\n",
    "header only": "a,y\n",
    "no feature column": "y\n1\n2\n",
    "nan label": "a,y\n1,nan\n2,1\n",
    "unterminated quote": 'a,y\n1,"cat\n2,1\n',
}


def outcome(path: Path) -> object:
    try:
        data = load_file(path)
    except ValueError as error:
        return ("error", type(error).__name__, str(error))
    return ("data", data.X.tobytes(), data.y.tobytes(), data.class_names, data.task)


@pytest.mark.parametrize("text", IRREGULAR.values(), ids=IRREGULAR.keys())
def test_irregular_files_get_the_python_readers_result(
    tmp_path, engine, any_size, monkeypatch, text
):
    path = write(tmp_path, text)
    fast = read_csv_fast(path, None, engine=engine)
    try:
        python = read_csv_python(path, None, None, None)
    except ValueError:
        assert fast is None  # the Python reader's error, with its line and column
    else:
        if fast is not None:
            assert_same_raw(fast, python)
    with_engine = outcome(path)
    monkeypatch.setattr(csv_engines, "ENGINES", ())
    assert with_engine == outcome(path)


def test_invalid_utf8_gets_the_python_readers_error(tmp_path, engine, any_size):
    path = write(tmp_path, b"a,y\n1,0\n2,\xff\xfe\n")
    assert read_csv_fast(path, None, engine=engine) is None
    with pytest.raises(ValueError, match="as UTF-8 CSV text"):
        load_file(path)


def test_random_cells_read_as_python_reads_them(tmp_path, engine, any_size):
    """Fuzz: any cell either reads to the same number or is left to Python."""
    rng = np.random.default_rng(7)
    alphabet = list('0123456789.eE+-_ xinfaINFAtrueTRUE,"')
    for i in range(60):
        cell = "".join(rng.choice(alphabet, size=rng.integers(1, 7)))
        path = write(tmp_path, f"a,y\n1,0\n{cell},1\n2,0\n", name=f"f{i}.csv")
        fast = read_csv_fast(path, None, engine=engine)
        try:
            python = read_csv_python(path, None, None, None)
        except ValueError:
            assert fast is None, cell
            continue
        if fast is not None:
            assert_same_raw(fast, python)


# Which reader runs -------------------------------------------------------------------


def test_read_csv_uses_an_engine_for_large_files(tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    calls = []
    monkeypatch.setattr(
        formats, "read_csv_python", lambda *args: calls.append(args) or None
    )
    path = write(tmp_path, "a,y\n" + "1.5,0\n2.5,1\n" * 120_000)  # 1.4 MB
    assert path.stat().st_size > csv_engines.MIN_BYTES["pyarrow"]
    data = load_file(path)
    assert calls == []
    assert data.X.shape == (240_000, 1)


def test_small_files_do_not_import_an_engine(tmp_path):
    path = write(tmp_path, "a,b,y\n1,2,cat\n3,4,dog\n")
    code = (
        "import sys, nntune; data = nntune.load_file(sys.argv[1]); "
        "print(data.class_names, [m for m in ('pyarrow', 'pandas') if m in "
        "sys.modules])"
    )
    output = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert output.strip() == "('cat', 'dog') []"


@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        (("pyarrow", "pyarrow.csv"), "pandas"),
        (("pandas",), "pyarrow"),
        (("pyarrow", "pyarrow.csv", "pandas"), "python"),
    ],
)
def test_without_pyarrow_or_pandas_the_next_reader_reads(
    tmp_path, any_size, monkeypatch, missing, expected
):
    for module in ENGINES:
        pytest.importorskip(module)
    for module in missing:
        monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    used = []
    for name, label in [
        ("_arrow_batches", "pyarrow"),
        ("_pandas_batches", "pandas"),
    ]:
        original = getattr(csv_engines, name)

        def spy(*args, _original=original, _label=label):
            used.append(_label)
            return _original(*args)

        monkeypatch.setattr(csv_engines, name, spy)
    original_python = formats.read_csv_python

    def python_spy(*args):
        used.append("python")
        return original_python(*args)

    monkeypatch.setattr(formats, "read_csv_python", python_spy)
    path = write(tmp_path, "a,b,y\n1,2,cat\n3,4,dog\n")
    data = load_file(path)
    assert used == [expected]
    assert data.class_names == ("cat", "dog")
    np.testing.assert_array_equal(data.X, [[1.0, 2.0], [3.0, 4.0]])


def test_unknown_engine_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown CSV engine 'polars'"):
        read_csv_fast(write(tmp_path, "a,y\n1,0\n"), None, engine="polars")
