"""Data files: every format round-trips what it writes; every bad file says why."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.io

from nntune.data.datasets import Dataset, load_dataset
from nntune.data.io import DataFileError, load_file, save_file

FORMATS = ["csv", "parquet", "npy", "npz", "h5", "hdf5", "mat"]
NAMED_ARRAYS = ["npz", "h5", "hdf5", "mat"]
KEEP_CLASS_NAMES = ["parquet", "npz", "h5", "hdf5", "mat"]


def awkward_features(n: int, d: int, seed: int = 0) -> np.ndarray:
    """Floats a lossy writer gets wrong: thirds, tiny, huge, subnormal, -0.0."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * 10.0 ** rng.integers(-300, 300, size=(n, d))
    X.flat[:6] = [1 / 3, 0.1, -0.0, 5e-324, 1.7976931348623157e308, -2.5e-310]
    return X


def make_dataset(task: str, n: int = 12) -> Dataset:
    X = awkward_features(n, 3)
    if task == "regression":
        y = np.random.default_rng(1).standard_normal(n) * 1e3 + 1 / 3
        return Dataset("d", X, y, task, (), "")
    k = 2 if task == "binary" else 3
    y = np.arange(n, dtype=np.int64) % k
    return Dataset("d", X, y, task, tuple(str(c) for c in range(k)), "")


def assert_same(loaded: Dataset, data: Dataset) -> None:
    assert loaded.X.dtype == np.float64
    assert loaded.X.tobytes() == data.X.astype(np.float64).tobytes()  # bit-exact
    np.testing.assert_array_equal(loaded.y, data.y)
    assert loaded.y.dtype == (np.float64 if data.task == "regression" else np.int64)
    assert loaded.class_names == data.class_names
    assert loaded.task == data.task


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("suffix", FORMATS)
def test_every_format_round_trips_what_it_writes(tmp_path, suffix, task):
    data = make_dataset(task)
    path = tmp_path / f"data.{suffix}"
    save_file(data, None, path)
    loaded = load_file(path)
    assert_same(loaded, data)
    assert loaded.name == "data"
    assert loaded.image_shape is None
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left


@pytest.mark.parametrize("name", ["flower", "circles", "breast_cancer", "wine"])
@pytest.mark.parametrize("suffix", KEEP_CLASS_NAMES)
def test_stored_class_names_keep_their_order(tmp_path, suffix, name):
    data = load_dataset(name, n_samples=60, seed=2)
    path = tmp_path / f"{name}.{suffix}"
    save_file(data, None, path)
    assert_same(load_file(path), data)


def test_csv_stores_class_names_as_text_read_back_in_sorted_order(tmp_path):
    data = load_dataset("flower", n_samples=20)  # class names ("red", "blue")
    save_file(data, None, tmp_path / "f.csv", target="colour")
    text = (tmp_path / "f.csv").read_text().splitlines()
    assert text[0] == "x0,x1,colour"
    assert text[1].endswith(",red")
    loaded = load_file(tmp_path / "f.csv", target="colour")
    assert loaded.class_names == ("blue", "red")
    names = np.array(data.class_names)[data.y]
    np.testing.assert_array_equal(np.array(loaded.class_names)[loaded.y], names)


def test_npy_stores_numbers_only(tmp_path):
    flower = load_dataset("flower", n_samples=20)
    save_file(flower, None, tmp_path / "f.npy")
    loaded = load_file(tmp_path / "f.npy")
    np.testing.assert_array_equal(loaded.y, flower.y)  # the codes
    assert loaded.class_names == ("0", "1")
    sevens = Dataset("s", np.eye(4), np.array([0, 1, 1, 0]), "binary", ("3", "7"), "")
    save_file(sevens, None, tmp_path / "s.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "s.npy")[:, -1], [3, 7, 7, 3])
    assert_same(load_file(tmp_path / "s.npy"), sevens)


def test_npy_target_is_the_last_column_unless_an_index_says_otherwise(tmp_path):
    X = np.arange(12.0).reshape(4, 3) / 7
    array = np.column_stack([[1.0, 0.0, 1.0, 0.0], X])  # a hand-made file
    np.save(tmp_path / "first.npy", array)
    loaded = load_file(tmp_path / "first.npy", target="0")
    np.testing.assert_array_equal(loaded.X, X)
    assert loaded.y.tolist() == [1, 0, 1, 0]
    assert load_file(tmp_path / "first.npy").task == "regression"  # last column
    save_file(X, np.array([1, 0, 1, 0]), tmp_path / "again.npy", target=0)
    np.testing.assert_array_equal(np.load(tmp_path / "again.npy"), array)
    save_file(X, np.array([1, 0, 1, 0]), tmp_path / "last.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "last.npy")[:, -1], [1, 0, 1, 0])


@pytest.mark.parametrize("suffix", NAMED_ARRAYS)
def test_images_keep_their_shape_in_named_array_files(tmp_path, suffix):
    images = np.random.default_rng(0).integers(0, 256, (5, 4, 4, 3)).astype(np.uint8)
    path = tmp_path / f"cats.{suffix}"
    save_file(images, np.array(["cat", "dog", "cat", "cat", "dog"]), path)
    loaded = load_file(path)
    assert loaded.image_shape == (4, 4, 3)
    np.testing.assert_array_equal(loaded.X, images.reshape(5, -1))
    np.testing.assert_array_equal(loaded.X[1].reshape(4, 4, 3), images[1])
    assert loaded.class_names == ("cat", "dog")
    save_file(loaded, None, tmp_path / f"copy.{suffix}")
    assert load_file(tmp_path / f"copy.{suffix}").image_shape == (4, 4, 3)


def test_tables_flatten_images_and_forget_their_shape(tmp_path):
    images = np.arange(2 * 2 * 2 * 3, dtype=float).reshape(2, 2, 2, 3)
    save_file(images, np.array([0.5, 1.5]), tmp_path / "i.csv")
    loaded = load_file(tmp_path / "i.csv")
    assert loaded.image_shape is None
    np.testing.assert_array_equal(loaded.X, images.reshape(2, -1))


@pytest.mark.parametrize("suffix", NAMED_ARRAYS)
def test_several_regression_targets(tmp_path, suffix):
    X, y = np.eye(3), np.array([[0.5, 1.25], [2.5, 3.5], [4.75, 5.5]])
    save_file(X, y, tmp_path / f"m.{suffix}", x_key="inputs", y_key="targets")
    loaded = load_file(tmp_path / f"m.{suffix}", x_key="inputs", y_key="targets")
    assert loaded.task == "regression"
    np.testing.assert_array_equal(loaded.y, y)


def write_course_file(path: Path, pairs=("train",), y_shape=None) -> tuple:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 4, 4, 3), dtype=np.uint8)
    labels = np.array([1, 0, 0, 1, 1], dtype=np.int64)
    with h5py.File(path, "w") as file:
        for prefix in pairs:
            file.create_dataset(f"{prefix}_set_x", data=images)
            file.create_dataset(
                f"{prefix}_set_y", data=labels.reshape(y_shape or labels.shape)
            )
        file.create_dataset("list_classes", data=np.array([b"non-cat", b"cat"]))
    return images, labels


@pytest.mark.parametrize(
    "keys",
    [
        {},
        {"x_key": "train_set_x", "y_key": "train_set_y"},
        {"x_key": "train_set_x"},
        {"y_key": "train_set_y"},
    ],
)
def test_course_hdf5_layout(tmp_path, keys):
    images, labels = write_course_file(tmp_path / "train_catvnoncat.h5")
    data = load_file(tmp_path / "train_catvnoncat.h5", **keys)
    assert data.image_shape == (4, 4, 3)
    assert data.class_names == ("non-cat", "cat")
    assert data.task == "binary"
    assert data.X.shape == (5, 48)
    np.testing.assert_array_equal(data.X, images.reshape(5, -1).astype(np.float64))
    np.testing.assert_array_equal(data.y, labels)


def test_course_labels_as_a_row_vector(tmp_path):
    _, labels = write_course_file(tmp_path / "c.h5", y_shape=(1, 5))
    np.testing.assert_array_equal(load_file(tmp_path / "c.h5").y, labels)


def test_course_file_with_train_and_test_pairs_needs_keys(tmp_path):
    path = tmp_path / "both.h5"
    write_course_file(path, pairs=("train", "test"))
    with pytest.raises(DataFileError, match="holds several feature/label pairs"):
        load_file(path)
    assert load_file(path, x_key="test_set_x").X.shape == (5, 48)


def test_save_writes_the_course_layout(tmp_path):
    images, labels = write_course_file(tmp_path / "c.h5")
    data = load_file(tmp_path / "c.h5")
    save_file(data, None, tmp_path / "out.h5", x_key="train_set_x", y_key="train_set_y")
    with h5py.File(tmp_path / "out.h5", "r") as file:
        assert sorted(file) == ["list_classes", "train_set_x", "train_set_y"]
        np.testing.assert_array_equal(file["train_set_x"][()], images)
        np.testing.assert_array_equal(file["train_set_y"][()], labels)
        assert file["list_classes"][()].tolist() == [b"non-cat", b"cat"]


def test_the_regularization_labs_mat_file(tmp_path):
    # The lab's datasets/data.mat: examples as rows, labels as a column, the dev set
    # as Xval/yval (MATLAB doubles); the lab transposes them, nntune keeps the rows.
    rng = np.random.RandomState(0)
    X, X_dev = rng.uniform(-0.75, 0.4, (211, 2)), rng.uniform(-0.75, 0.4, (200, 2))
    y, y_dev = (X[:, 1:] > X[:, :1]) * 1.0, (X_dev[:, 1:] > X_dev[:, :1]) * 1.0
    path = tmp_path / "data.mat"
    scipy.io.savemat(path, {"X": X, "y": y, "Xval": X_dev, "yval": y_dev})
    train = load_file(path)
    dev = load_file(path, x_key="Xval")  # its partner: yval
    assert (train.X.shape, train.task, train.class_names) == (
        (211, 2),
        "binary",
        ("0", "1"),
    )
    assert train.X.tobytes() == X.tobytes()
    np.testing.assert_array_equal(train.y, y[:, 0])
    np.testing.assert_array_equal(dev.X, X_dev)
    np.testing.assert_array_equal(dev.y, y_dev[:, 0])


def test_mat_class_names_as_matlab_writes_them(tmp_path):
    # A char matrix pads names with spaces; a cell array keeps them as they are.
    for names in (np.array(["cat", "mouse"]), np.array(["cat", "mouse"], dtype=object)):
        path = tmp_path / "pets.mat"
        scipy.io.savemat(path, {"X": np.eye(3), "y": [1, 0, 1], "class_names": names})
        assert load_file(path).class_names == ("cat", "mouse")


def test_saving_replaces_a_file_atomically(tmp_path):
    path = tmp_path / "d.csv"
    save_file(np.eye(2), np.array([0.5, 1.5]), path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="NaN or infinite"):
        save_file(np.array([[np.nan, 1.0], [1.0, 2.0]]), np.array([0.5, 1.5]), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["d.csv"]


class RunsCode:
    """Unpickling this would create a file: loading must refuse before that."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("suffix", ["npy", "npz"])
def test_pickled_arrays_are_refused_and_never_run(tmp_path, suffix):
    marker = tmp_path / "ran"
    hostile = np.array([RunsCode(marker)] * 2, dtype=object)
    path = tmp_path / f"hostile.{suffix}"
    if suffix == "npy":
        np.save(path, hostile, allow_pickle=True)
    else:
        np.savez(path, X=np.eye(2), y=hostile)
    with pytest.raises(DataFileError, match="allow_pickle=False"):
        load_file(path)
    assert not marker.exists()


def csv(text: str):
    return lambda path: path.write_text(text)


def parquet(**columns):
    return lambda path: pd.DataFrame(columns).to_parquet(path)


def npz(**arrays):
    def write(path):
        with path.open("wb") as file:  # np.savez(path) would add ".npz" to "d.npy"
            np.savez(file, **arrays)

    return write


def npy(array):
    def write(path):
        with path.open("wb") as file:
            np.save(file, array)

    return write


def hdf5(**arrays):
    def write(path):
        with h5py.File(path, "w") as file:
            for key, value in arrays.items():
                file.create_dataset(key, data=value)

    return write


def truncated(suffix: str):
    def write(path):
        whole = path.with_name(f"whole.{suffix}")
        save_file(np.eye(40), np.arange(40) % 2, whole)
        path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])

    return write


COURSE = {"list_classes": np.array([b"non-cat", b"cat"])}
BAD_FILES = [
    ("nope.csv", None, {}, r"data file .*nope.csv does not exist; give a path"),
    ("folder.csv", Path.mkdir, {}, "is a folder"),
    ("d.txt", csv("1"), {}, r"unsupported type '.txt'; expected .csv, .parquet"),
    ("d.csv", csv("a,b\n1,2\n"), {"target": "c"}, r"no column 'c'.*\['a', 'b'\]"),
    ("d.csv", csv("a,y\n1,0\nx,1\n"), {}, r"column 'a' is not numeric \(line 3: 'x'"),
    (
        "d.csv",
        csv("a,b,y\n1,,0\nnan,2,1\n3,4,0\n"),
        {},
        r"NaN or infinite values in 2 row\(s\) \(first data row 1\)\. Drop those rows"
        r", or impute .* mean over the training set",
    ),
    ("d.csv", csv("a,y\n1,0\n-inf,1\n"), {}, r"infinite values in 1 row\(s\) \(first "),
    ("d.csv", csv("a,y\n1,\n2,1\n"), {}, "target column 'y' is empty on 1 line"),
    ("d.csv", csv("a,y\n"), {}, "needs a header row and at least one data row"),
    ("d.csv", csv("a,y\n1,2,3\n"), {}, "line 2 has 3 fields; the header has 2"),
    ("d.csv", lambda p: p.write_bytes(b"a,y\n\xff\xfe,1\n"), {}, "as UTF-8 CSV"),
    (
        "d.parquet",
        parquet(a=[1.0], y=[0]),
        {"target": "c"},
        r"no column 'c'; its columns are \['a', 'y'\]",
    ),
    (
        "d.parquet",
        parquet(a=[1.0, 2.0], b=["1", "x"], y=[0, 1]),
        {},
        r"column 'b' is not numeric \(row 2: 'x'\)",
    ),
    ("d.parquet", parquet(a=[1.0, np.nan], y=[0, 1]), {}, "NaN or infinite values"),
    ("d.parquet", parquet(a=[1.0, 2.0], y=[0, None]), {}, "'y' is missing in 1 row"),
    ("d.parquet", truncated("parquet"), {}, r"could not read .*d.parquet as Parquet"),
    ("d.npy", npy(np.arange(3.0)), {}, r"expected one 2-D numeric array.*\(3,\)"),
    ("d.npy", npy(np.eye(3)), {"target": "label"}, "has no column names"),
    ("d.npy", npy(np.eye(3)), {"target": "5"}, "column 5 is out of range; the array"),
    ("d.npy", npz(X=np.eye(2), y=[0, 1]), {}, "is an .npz archive"),
    ("d.npy", truncated("npy"), {}, r"could not read .*d.npy as a NumPy .npy array"),
    (
        "d.npz",
        npz(features=np.eye(2), labels=[0, 1]),
        {},
        r"no arrays X and y and no \*_x/\*_y pair; it holds \['features', 'labels'\]",
    ),
    ("d.npz", npz(X=np.eye(2), y=[0, 1]), {"x_key": "A", "y_key": "y"}, r"\['A'\]"),
    ("d.npz", npz(X=np.zeros((3, 2)), y=np.zeros(2)), {}, "X has 3 rows but y has 2"),
    ("d.npz", npz(X=np.array([["a"]]), y=[1]), {}, "must be a numeric array"),
    ("d.npz", npz(X=np.eye(2), y=[0, np.nan]), {}, "NaN or infinite values in 1 row"),
    ("d.npz", npy(np.eye(3)), {}, "is a single .npy array"),
    ("d.npz", truncated("npz"), {}, r"could not read .*d.npz as a NumPy .npz"),
    ("d.npz", npz(X=np.eye(2), y=[0, 1]), {"target": "y"}, "with y_key="),
    ("d.h5", hdf5(a=np.eye(2), b=[0, 1]), {}, r"it holds \['a', 'b'\]"),
    ("d.h5", truncated("h5"), {}, r"could not read .*d.h5 as HDF5"),
    ("d.mat", truncated("mat"), {}, r"could not read .*d.mat as a MATLAB .mat file"),
    (
        "d.h5",
        hdf5(train_set_x=np.zeros((5, 2)), train_set_y=np.zeros(4)),
        {},
        "train_set_x has 5 rows but train_set_y has 4 values",
    ),
    (
        "d.h5",
        hdf5(X=np.eye(2), y=[0, 2], **COURSE),
        {},
        r"class indices 0..1 into the class names \['non-cat', 'cat'\].*found 2",
    ),
    (
        "d.h5",
        hdf5(X=np.eye(2), y=[0, 1], **COURSE),
        {"task": "regression"},
        "it is a classification set",
    ),
    ("d.h5", hdf5(X=np.eye(2), y=[0, 1]), {"x_key": "features"}, "partner of array"),
    ("d.hdf5", csv("not hdf5"), {}, r"could not read .*d.hdf5 as HDF5"),
    ("d.csv", csv("a,y\n1,0\n"), {"x_key": "a"}, "choose its label column with"),
    (
        "d.csv",
        csv("a,y\n1,0\n2,1\n3,2\n"),
        {"task": "binary"},
        "a binary task needs exactly 2 classes; found 3",
    ),
    ("d.csv", csv("a,y\n1,cat\n"), {"task": "regression"}, "needs numeric targets"),
    ("d.csv", csv("a,y\n1,0\n"), {"task": "clustering"}, "unknown task 'clustering'"),
]


@pytest.mark.parametrize(
    ("name", "write", "kwargs", "message"),
    BAD_FILES,
    ids=[f"{case[0]}-{case[3][:30]}" for case in BAD_FILES],
)
def test_bad_files_say_what_is_wrong(tmp_path, name, write, kwargs, message):
    path = tmp_path / name
    if write is not None:
        write(path)
    with pytest.raises(ValueError, match=message):
        load_file(path, **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((np.eye(2), [0, 1], "d.xlsx"), {}, r"unsupported type '.xlsx'"),
        ((np.eye(2), None, "d.csv"), {}, "needs labels y"),
        ((np.arange(3.0), [0, 1, 0], "d.csv"), {}, "examples as rows"),
        ((np.eye(3), [0, 1], "d.csv"), {}, "X has 3 rows but y has 2 values"),
        ((np.eye(2), np.eye(2) / 3, "d.parquet"), {}, "holds one target column"),
        ((np.eye(2), np.eye(2), "d.npz"), {}, "task='regression' for several"),
        ((np.eye(2), [0, 1], "d.csv"), {"target": "x1"}, "also the name of a feature"),
        ((np.eye(2), [0, 1], "d.npy"), {"target": 3}, "column 3 is out of range"),
        (
            (np.array([[1.0, np.inf]]), [1.0], "d.npz"),
            {},
            r"cannot save .*d.npz: X contain NaN or infinite values in 1 row",
        ),
    ],
)
def test_bad_saves_say_what_is_wrong(tmp_path, args, kwargs, message):
    X, y, name = args
    with pytest.raises(ValueError, match=message):
        save_file(X, None if y is None else np.asarray(y), tmp_path / name, **kwargs)
    assert not (tmp_path / name).exists()


def test_saving_a_dataset_takes_no_separate_labels(tmp_path):
    data = make_dataset("binary")
    with pytest.raises(ValueError, match="carries its own labels"):
        save_file(data, data.y, tmp_path / "d.csv")


@pytest.mark.parametrize(
    ("module", "suffix"),
    [("h5py", "h5"), ("h5py", "hdf5"), ("pandas", "parquet"), ("pyarrow", "parquet")],
)
def test_missing_extra_names_it(tmp_path, monkeypatch, module, suffix):
    path = tmp_path / f"d.{suffix}"
    save_file(np.eye(2), np.array([0, 1]), path)
    monkeypatch.setitem(sys.modules, module, None)
    message = rf"needs {module}, which is not installed.*pip install \"nntune\[data\]\""
    with pytest.raises(ImportError, match=message) as caught:
        load_file(path)
    assert isinstance(caught.value, ValueError)  # the CLI reports it without traceback
    with pytest.raises(ImportError, match=message):
        save_file(np.eye(2), np.array([0, 1]), tmp_path / f"e.{suffix}")


def test_dataset_checks_its_image_shape():
    with pytest.raises(ValueError, match=r"image_shape \(2, 2\) does not fit X"):
        Dataset("d", np.eye(3), np.zeros(3), "regression", (), "", image_shape=(2, 2))
