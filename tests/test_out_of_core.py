"""Training from a file larger than memory: nntune.data.open_mapped and np.memmap."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nntune
from nntune.data import MappedArray, open_mapped
from nntune.data import mapped as mapped_module
from nntune.data import targets as targets_module
from nntune.data.mapped import IN_MEMORY_ROWS, out_of_core
from nntune.data.targets import ClassTargets

ROWS, FEATURES = 10_000, 8  # more than IN_MEMORY_ROWS: read out of core


def data(task: str = "multiclass") -> tuple[np.ndarray[Any, Any], Any]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((ROWS, FEATURES)).astype(np.float32)
    score = X[:, 0] + 0.5 * X[:, 1]
    if task == "multiclass":
        return X, np.digitize(score, [-0.5, 0.5])
    if task == "binary":
        return X, (score > 0).astype(int)
    return X, score[:, None] * 2.0


def model_for(task: str) -> nntune.Sequential:
    outputs = {"multiclass": 3, "binary": 1, "regression": 1}[task]
    return nntune.mlp([16, 8], task=task, outputs=outputs).init(FEATURES, seed=1)


def train(X: Any, y: Any, task: str, **options: Any) -> nntune.Sequential:
    model = model_for(task)
    nntune.fit(
        model, X, y, epochs=2, batch_size=64, seed=3, progress="silent", **options
    )
    return model


def assert_same_weights(a: nntune.Sequential, b: nntune.Sequential) -> None:
    for layer, params in a.params.items():
        for name, value in params.items():
            np.testing.assert_array_equal(value, b.params[layer][name])


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, np.ndarray[Any, Any]]:
    X, _ = data()
    np.save(tmp_path / "X.npy", X)
    return tmp_path / "X.npy", X


@pytest.mark.parametrize("task", ["multiclass", "binary", "regression"])
@pytest.mark.parametrize("source", ["open_mapped", "np.load"])
def test_training_from_a_file_equals_training_in_memory(
    tmp_path: Path, task: str, source: str
) -> None:
    X, y = data(task)
    np.save(tmp_path / "X.npy", X)
    mapped = (
        open_mapped(tmp_path / "X.npy")
        if source == "open_mapped"
        else np.load(tmp_path / "X.npy", mmap_mode="r")
    )
    assert isinstance(model_for(task).prepare(mapped)[0], MappedArray)  # out of core
    in_memory = train(X, y, task)
    from_file = train(mapped, y, task)
    assert_same_weights(in_memory, from_file)
    # A planted bug (another shuffle) would show: the weights differ.
    other = model_for(task)
    nntune.fit(other, mapped, y, epochs=2, batch_size=64, seed=4, progress="silent")
    assert not np.array_equal(
        other.params["dense_0"]["W"], in_memory.params["dense_0"]["W"]
    )


def test_history_dev_set_and_predictions_match(saved: tuple[Path, Any]) -> None:
    path, X = saved
    _, y = data()
    dev_path = path.parent / "dev.npy"
    np.save(dev_path, X[::-1].copy())
    histories = []
    for train_x, dev_x in ((X, X[::-1]), (open_mapped(path), open_mapped(dev_path))):
        model = model_for("multiclass")
        histories.append(
            nntune.fit(
                model,
                train_x,
                y,
                dev=(dev_x, y[::-1]),
                epochs=2,
                batch_size=64,
                seed=3,
                progress="silent",
            )
        )
    assert histories[0].epochs == [
        {**row, "time": histories[0].epochs[i]["time"]}
        for i, row in enumerate(histories[1].epochs)
    ]
    mapped = open_mapped(path)
    np.testing.assert_array_equal(model.predict(mapped), model.predict(X))
    np.testing.assert_allclose(
        model.predict_proba(mapped), model.predict_proba(X), rtol=1e-6, atol=1e-7
    )
    assert model.cost(mapped, y) == pytest.approx(model.cost(X, y), rel=1e-6)


def test_a_float64_file_trains_a_float32_model_as_in_memory(tmp_path: Path) -> None:
    X, y = data()
    wide = X.astype(np.float64) * 1.000001
    np.save(tmp_path / "X.npy", wide)
    assert_same_weights(
        train(wide, y, "multiclass"),
        train(open_mapped(tmp_path / "X.npy"), y, "multiclass"),
    )


def test_prepare_keeps_the_file_out_of_memory(saved: tuple[Path, Any]) -> None:
    path, X = saved
    _, y = data()
    model = model_for("multiclass")
    x, targets = model.prepare(np.load(path, mmap_mode="r"), y)
    assert isinstance(x, MappedArray)
    assert x.dtype == np.float32
    assert isinstance(targets, ClassTargets)
    assert targets.labels.dtype == np.uint8  # one byte a row, not a one-hot row
    np.testing.assert_array_equal(
        targets[np.array([5, 2])], model.prepare(X, y)[1][np.array([5, 2])]
    )


def test_small_files_are_read_into_memory(tmp_path: Path) -> None:
    X, y = data()
    np.save(tmp_path / "small.npy", X[:IN_MEMORY_ROWS])
    mapped = open_mapped(tmp_path / "small.npy")
    assert out_of_core(mapped) is None
    x, _ = model_for("multiclass").prepare(mapped, y[:IN_MEMORY_ROWS])
    assert isinstance(x, np.ndarray)
    assert_same_weights(
        train(X[:IN_MEMORY_ROWS], y[:IN_MEMORY_ROWS], "multiclass"),
        train(mapped, y[:IN_MEMORY_ROWS], "multiclass"),
    )


def test_in_memory_rows_is_the_evaluation_chunk() -> None:
    # fit evaluates a set of at most this many rows whole, so only larger ones may
    # stay in a file.
    try:
        from nntune.training.evaluation import EVALUATION_ROWS
    except ImportError:  # before the evaluation module was split out of fit
        from nntune.training.fit import EVALUATION_ROWS  # type: ignore[attr-defined]
    assert IN_MEMORY_ROWS == EVALUATION_ROWS


def test_indexing_reads_the_rows_asked_for(saved: tuple[Path, Any]) -> None:
    path, X = saved
    x = open_mapped(path)
    rng = np.random.default_rng(1)
    rows = rng.integers(-ROWS, ROWS, size=700)  # duplicates, negatives, any order
    np.testing.assert_array_equal(x[rows], X[rows])
    mask = rng.random(ROWS) < 0.1
    for key in (
        mask,
        slice(None),
        slice(10, 2000, 7),
        slice(5000, 10),
        slice(None, None, -3),
        7,
        -1,
        (Ellipsis, slice(100, 300), slice(None)),
        (rows, 3),
        (slice(5, 9), slice(2, 4)),
        (Ellipsis, 2),
        np.arange(20, 60),  # one run of neighbours, one read
        np.array([], dtype=np.int64),
    ):
        np.testing.assert_array_equal(x[key], X[key])
    assert x.shape == X.shape
    assert len(x) == ROWS
    assert x.ndim == 2
    np.testing.assert_array_equal(np.asarray(x), X)
    np.testing.assert_array_equal(copy.deepcopy(x)[rows], X[rows])  # reopens
    assert x.astype(np.float64)[3].dtype == np.float64
    with pytest.raises(IndexError, match="out of range"):
        x[np.array([ROWS])]
    with pytest.raises(IndexError, match="out of range"):
        x[-ROWS - 1]
    with pytest.raises(IndexError, match="1-D array of integers"):
        x[np.array([0.5])]
    x.close()
    with pytest.raises(ValueError, match="was closed"):
        x[0]


def test_memmaps_of_rows_are_located_in_their_file(tmp_path: Path) -> None:
    X, _ = data()
    path = tmp_path / "raw.bin"
    header = 100  # not a multiple of the page size
    with path.open("wb") as file:
        file.write(b"\0" * header)
        file.write(X.tobytes())
    raw = np.memmap(path, dtype=np.float32, mode="r", offset=header, shape=X.shape)
    for view, expected in ((raw, X), (raw[4321:9876], X[4321:9876])):
        mapped = open_mapped(view)
        np.testing.assert_array_equal(
            mapped[np.array([0, 5, 77])], expected[[0, 5, 77]]
        )
        np.testing.assert_array_equal(mapped[-1], expected[-1])
    np.save(tmp_path / "X.npy", X)
    loaded = np.load(tmp_path / "X.npy", mmap_mode="r")
    halves = loaded.reshape(ROWS * 2, FEATURES // 2)  # still rows of the file
    mapped = out_of_core(halves[3:])
    assert mapped is not None
    np.testing.assert_array_equal(
        mapped[[0, 9, 999]], X.reshape(-1, 4)[3:][[0, 9, 999]]
    )
    # Columns of a file are not rows, nor is a private copy: such memmaps are used
    # as arrays, as before.
    assert out_of_core(loaded[:, :4]) is None
    assert out_of_core(np.memmap(path, np.float32, "c", header, X.shape)) is None
    with pytest.raises(ValueError, match="not 2-D C-ordered rows"):
        open_mapped(loaded[:, :4])


def test_a_non_finite_value_is_reported_with_its_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mapped_module, "CHUNK_BYTES", 1000 * FEATURES * 4)
    X, y = data()
    X[7777, 3] = np.nan
    np.save(tmp_path / "X.npy", X)
    model = model_for("multiclass")
    for source in (open_mapped(tmp_path / "X.npy"), np.load(tmp_path / "X.npy", "r")):
        with pytest.raises(ValueError, match=r"NaN or infinite value in row 7777 "):
            nntune.fit(model, source, y, epochs=1, progress="silent")
    # A value finite in float64 may overflow float32: checked in the model's dtype.
    wide = X.astype(np.float64)
    wide[7777, 3] = 1e300
    np.save(tmp_path / "big.npy", wide)
    with pytest.raises(ValueError, match=r"row 7777 .*column 3: np.float32\(inf\)"):
        model.prepare(open_mapped(tmp_path / "big.npy"))
    in_float64 = nntune.mlp([4], task="multiclass", outputs=3)
    x, _ = in_float64.init(FEATURES, dtype="float64").prepare(
        open_mapped(tmp_path / "big.npy")
    )
    assert x.dtype == np.float64


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((10, 2), dtype=np.complex64), "expected numbers"),
        (np.array([["a", "b"]] * 10), "expected numbers"),
        (np.zeros((10, 2, 2), dtype=np.float32), r"shape \(10, 2, 2\); expected 2-D"),
        (np.asfortranarray(np.zeros((10, 3))), "Fortran"),
    ],
)
def test_files_that_are_not_rows_of_numbers_are_refused(
    tmp_path: Path, array: np.ndarray[Any, Any], message: str
) -> None:
    np.save(tmp_path / "X.npy", array)
    with pytest.raises(ValueError, match=message):
        open_mapped(tmp_path / "X.npy")


def test_other_bad_files_and_labels_are_refused(saved: tuple[Path, Any]) -> None:
    path, X = saved
    _, y = data()
    model = model_for("multiclass")
    (path.parent / "text.npy").write_text("not a .npy file")
    with pytest.raises(ValueError, match=r"could not be read as a \.npy file"):
        open_mapped(path.parent / "text.npy")
    with path.open("r+b") as file:  # a truncated copy
        (path.parent / "short.npy").write_bytes(file.read()[:-1])
    with pytest.raises(ValueError, match="truncated"):
        open_mapped(path.parent / "short.npy")
    with pytest.raises(TypeError, match=r"path to a \.npy file or an np\.memmap"):
        open_mapped(X)
    wrong = nntune.mlp([4], task="multiclass", outputs=3).init(FEATURES + 1)
    with pytest.raises(ValueError, match=rf"has {FEATURES} features .* expects 9"):
        wrong.prepare(open_mapped(path))
    with pytest.raises(ValueError, match=f"X has {ROWS} examples but y has 9"):
        model.prepare(open_mapped(path), y[:9])
    bad = y.copy()
    bad[9000] = 5
    with pytest.raises(
        ValueError, match=r"outside the classes 0..2: found \[5\].*rows 0"
    ):
        model.prepare(open_mapped(path), bad)
    with pytest.raises(ValueError, match=r"adapt .* model.adapt\(X\[:100_000\]\)"):
        nntune.Sequential(
            [nntune.Standardize(), nntune.Dense(3)], "softmax_cross_entropy"
        ).init(FEATURES).adapt(open_mapped(path))


@pytest.mark.parametrize("task", ["multiclass", "binary", "regression"])
def test_targets_are_checked_and_kept_in_chunks(
    saved: tuple[Path, Any], task: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(targets_module, "CHUNK_BYTES", 64 * 1000)  # 1000 rows
    path, X = saved
    _, y = data(task)
    model = model_for(task)
    dense = model.prepare(X, y)[1]
    targets = model.prepare(open_mapped(path), y)[1]
    np.testing.assert_array_equal(np.asarray(targets), dense)
    if task == "regression":
        return
    bad = y.copy()
    bad[9500] = 7
    with pytest.raises(ValueError, match=r"found \[7\].*rows 9000 to 9999 of y"):
        model.prepare(open_mapped(path), bad)


def test_class_targets_equal_the_dense_targets() -> None:
    _, y = data()
    model = model_for("multiclass")
    dense = model.loss.prepare_targets(y, 3, np.float32)
    sparse = ClassTargets(y, 3, np.float32, one_hot=True)
    rows = np.random.default_rng(2).permutation(ROWS)[:512]
    for key in (rows, slice(4096, 8192), (Ellipsis, slice(0, 10), slice(None)), 5):
        np.testing.assert_array_equal(sparse[key], dense[key])
    np.testing.assert_array_equal(np.asarray(sparse), dense)
    binary = ClassTargets(y > 0, 2, np.float64, one_hot=False)
    assert binary[3:5].tolist() == [[float(y[3] > 0)], [float(y[4] > 0)]]


PEAK_MEMORY = """
import json, sys
import numpy as np
import nntune

path, rows, features = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
y = (np.arange(rows) % 10).astype(np.uint8)
model = nntune.mlp([16], task="multiclass", outputs=10).init(features, seed=0)


def peak():  # this process's peak memory (ru_maxrss also counts its parent's)
    with open("/proc/self/status") as status:
        found = [line for line in status if line.startswith("VmHWM:")]
    return int(found[0].split()[1]) * 1024


def reset():  # from here on, the peak is the memory in use now
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    return peak()


# Warm up (BLAS buffers, lazy imports) on a few rows in memory.
nntune.fit(model, np.zeros((600, features), np.float32), y[:600], epochs=1,
           batch_size=512, progress="silent")
before = reset()
nntune.fit(model, np.load(path, mmap_mode="r"), y, epochs=1, batch_size=512,
           progress="silent")
fit = peak() - before
# The planted bug: a mapped file handed to the in-memory path is read whole.
before = reset()
model.prepare(np.asarray(np.load(path, mmap_mode="r")), y)
print(json.dumps({"fit": fit, "materialized": peak() - before}))
"""


def test_training_from_a_file_does_not_read_it_into_memory(tmp_path: Path) -> None:
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("resets the peak memory with Linux's /proc/self/clear_refs")
    rows, features = 200_000, 256  # 205 MB of float32
    path = tmp_path / "X.npy"
    with path.open("wb") as file:  # written in chunks: this process stays small
        np.lib.format.write_array_header_1_0(
            file, {"descr": "<f4", "fortran_order": False, "shape": (rows, features)}
        )
        rng = np.random.default_rng(0)
        for _ in range(0, rows, 25_000):
            file.write(rng.standard_normal((25_000, features), np.float32).tobytes())
    size = rows * features * 4
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(PEAK_MEMORY),
            str(path),
            str(rows),
            str(features),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    growth = json.loads(done.stdout)
    # A fixed ~20 MB (8 MiB blocks checked for finiteness, 4096-row evaluation
    # chunks, mini-batches), whatever the size of the file.
    assert growth["fit"] < size / 5, growth
    assert growth["materialized"] > size * 0.9, growth  # the measure can fail
