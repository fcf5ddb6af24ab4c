from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_iris,
    load_wine,
    make_blobs,
    make_circles,
    make_moons,
)

from nntune import list_datasets, load_dataset
from nntune.data import generators
from nntune.data.datasets import DATASETS, GENERATED

NNTUNE = [str(Path(sys.executable).with_name("nntune"))]

# name: (examples, features, task, class names) with the default options
EXPECTED = {
    "blobs": (300, 2, "multiclass", ("0", "1", "2")),
    "breast_cancer": (569, 30, "binary", ("malignant", "benign")),
    "circles": (300, 2, "binary", ("outer", "inner")),
    "digits": (1797, 64, "multiclass", tuple("0123456789")),
    "flower": (400, 2, "binary", ("red", "blue")),
    "iris": (150, 4, "multiclass", ("setosa", "versicolor", "virginica")),
    "moons": (300, 2, "binary", ("0", "1")),
    "spiral": (300, 2, "multiclass", ("0", "1", "2")),
    "wine": (178, 13, "multiclass", ("class_0", "class_1", "class_2")),
}
REGRESSION = {"diabetes": (442, 10, "regression", ())}
FIXED = sorted(set(DATASETS) - set(GENERATED))


def test_list():
    assert list_datasets() == sorted([*EXPECTED, *REGRESSION])
    assert list_datasets() == sorted(DATASETS)
    assert FIXED == ["breast_cancer", "diabetes", "digits", "iris", "wine"]


def test_diabetes_is_scikit_learns_regression_set():
    bunch = load_diabetes()
    data = load_dataset("diabetes")
    np.testing.assert_array_equal(data.X, bunch.data)
    np.testing.assert_array_equal(data.y, bunch.target)  # float targets, not codes
    assert data.y.dtype == np.float64
    assert (data.task, data.class_names, data.n_classes) == ("regression", (), 0)
    assert data.feature_names == tuple(bunch.feature_names)
    small = load_dataset("diabetes", n_samples=50, seed=2)
    assert small.task == "regression"
    assert small.y.dtype == np.float64
    assert small.feature_names == data.feature_names


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_dataset_has_its_shape_task_and_classes(name):
    n, d, task, class_names = EXPECTED[name]
    data = load_dataset(name, seed=4)
    assert data.name == name
    assert data.X.shape == (n, d)
    assert data.X.dtype == np.float64
    assert data.y.shape == (n,)
    assert data.y.dtype == np.int64
    assert (data.task, data.class_names) == (task, class_names)
    assert (data.n_features, data.n_classes) == (d, len(class_names))
    assert sorted(np.unique(data.y)) == list(range(len(class_names)))
    assert data.description
    assert data.image_shape == ((8, 8, 1) if name == "digits" else None)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_dataset_is_seeded(name):
    options = {"n_samples": 60} if name in FIXED else {}
    first = load_dataset(name, seed=7, **options)
    again = load_dataset(name, seed=7, **options)
    other = load_dataset(name, seed=8, **options)
    np.testing.assert_array_equal(first.X, again.X)
    np.testing.assert_array_equal(first.y, again.y)
    assert not np.array_equal(first.X, other.X)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_dataset_touches_the_global_rng(name):
    np.random.seed(123)  # noqa: NPY002 (the legacy global RNG is what is checked)
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    load_dataset(name, n_samples=50, seed=1)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002


def course_flower(seed, m=400, noise=0.2):
    """The course's load_planar_dataset, with a seeded generator for np.random."""
    rng = np.random.default_rng(seed)
    N = m // 2
    X = np.zeros((m, 2))
    Y = np.zeros(m, dtype=np.int64)
    a = 4
    for j in range(2):
        ix = range(N * j, N * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + rng.standard_normal(N) * noise
        r = a * np.sin(4 * t) + rng.standard_normal(N) * noise
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        Y[ix] = j
    return X, Y


@pytest.mark.parametrize(
    ("seed", "options"),
    [(1, {}), (3, {"n_samples": 100}), (0, {"noise": 0.0}), (5, {"noise": 0.5})],
)
def test_flower_follows_the_course_formula(seed, options):
    X, y = course_flower(seed, options.get("n_samples", 400), options.get("noise", 0.2))
    data = load_dataset("flower", seed=seed, **options)
    np.testing.assert_array_equal(data.X, X)
    np.testing.assert_array_equal(data.y, y)


def test_flower_without_noise_lies_on_the_petals():
    data = load_dataset("flower", noise=0.0)
    t = np.concatenate([np.linspace(j * 3.12, (j + 1) * 3.12, 200) for j in (0, 1)])
    radius = np.hypot(data.X[:, 0], data.X[:, 1])
    np.testing.assert_allclose(radius, np.abs(4 * np.sin(4 * t)), atol=1e-12)


def test_flower_with_an_odd_size():
    data = load_dataset("flower", n_samples=401)
    assert np.bincount(data.y).tolist() == [201, 200]


def test_spiral_follows_cs231n():
    data = load_dataset("spiral", n_samples=150, n_classes=5, seed=2)
    rng = np.random.default_rng(2)
    for j in range(5):
        t = np.linspace(j * 4, (j + 1) * 4, 30) + rng.standard_normal(30) * 0.2
        r = np.linspace(0.0, 1, 30)
        arm = data.X[data.y == j]
        np.testing.assert_array_equal(arm, np.c_[r * np.sin(t), r * np.cos(t)])
    assert data.class_names == ("0", "1", "2", "3", "4")


def test_blobs_match_scikit_learn():
    data = load_dataset("blobs", n_samples=90, noise=0.5, n_classes=4, seed=6)
    X, y = make_blobs(
        n_samples=90, centers=4, n_features=2, cluster_std=0.5, random_state=6
    )
    np.testing.assert_array_equal(data.X, X)
    np.testing.assert_array_equal(data.y, y)
    assert load_dataset("blobs", n_classes=2).task == "binary"


@pytest.mark.parametrize(
    ("name", "loader"),
    [("breast_cancer", load_breast_cancer), ("iris", load_iris), ("wine", load_wine)],
)
def test_scikit_learn_sets_keep_their_data_and_class_names(name, loader):
    bunch = loader()
    data = load_dataset(name)
    np.testing.assert_array_equal(data.X, bunch.data)
    np.testing.assert_array_equal(data.y, bunch.target)
    assert data.class_names == tuple(bunch.target_names)


@pytest.mark.parametrize("name", FIXED)
def test_fixed_sets_subsample_their_rows(name):
    full = load_dataset(name)
    small = load_dataset(name, n_samples=40, seed=3)
    assert small.X.shape == (40, full.n_features)
    assert small.class_names == full.class_names
    rows = {tuple(row): label for row, label in zip(full.X, full.y, strict=True)}
    assert all(
        rows[tuple(row)] == label for row, label in zip(small.X, small.y, strict=True)
    )
    np.testing.assert_array_equal(load_dataset(name, n_samples=len(full.y)).X, full.X)


@pytest.mark.parametrize("name", FIXED)
def test_noise_is_refused_by_fixed_sets(name):
    with pytest.raises(ValueError, match=f"{name} is a fixed dataset; noise applies"):
        load_dataset(name, noise=0.1)


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_noise_changes_generated_sets(name):
    quiet = load_dataset(name, noise=0.01, seed=1)
    noisy = load_dataset(name, noise=0.3, seed=1)
    assert not np.array_equal(quiet.X, noisy.X)
    assert "0.3" in noisy.description


def test_moons_defaults_follow_the_course():
    data = load_dataset("moons", seed=3)
    X, y = make_moons(n_samples=300, noise=0.2, random_state=3)
    np.testing.assert_array_equal(data.X, X)
    np.testing.assert_array_equal(data.y, y)
    assert (data.task, data.n_classes, data.n_features) == ("binary", 2, 2)


def test_circles_defaults_follow_the_course():
    data = load_dataset("circles", seed=1)
    X, _ = make_circles(n_samples=300, noise=0.05, factor=0.8, random_state=1)
    np.testing.assert_array_equal(data.X, X)
    assert data.class_names == ("outer", "inner")


def assert_identical(ours, theirs):
    for a, b in zip(ours, theirs, strict=True):
        assert (a.dtype, a.shape, a.strides) == (b.dtype, b.shape, b.strides)
        assert a.tobytes() == b.tobytes()  # bit for bit


@pytest.mark.parametrize("seed", [0, 1, 3, 42, 2**32 - 1])
@pytest.mark.parametrize("n_samples", [2, 3, 7, 100, 301])
@pytest.mark.parametrize("noise", [0, 0.05, 0.2, 1.5])
def test_moons_and_circles_are_scikit_learns_bit_for_bit(seed, n_samples, noise):
    """NumPy alone draws scikit-learn's arrays (no scikit-learn import at load)."""
    ours = generators.make_moons(n_samples, noise, seed)
    theirs = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    assert_identical(ours, theirs)
    for factor in (0.0, 0.3, 0.8):
        ours = generators.make_circles(n_samples, noise, factor, seed)
        theirs = make_circles(
            n_samples=n_samples, noise=noise, factor=factor, random_state=seed
        )
        assert_identical(ours, theirs)


def test_generators_leave_unusual_arguments_to_scikit_learn():
    with pytest.raises(ValueError, match="random_state"):
        generators.make_moons(10, 0.1, -1)
    with pytest.raises(ValueError, match="factor"):
        generators.make_circles(10, 0.1, 1.5, 0)


def test_size_noise_and_seed():
    a = load_dataset("moons", n_samples=50, noise=0.0, seed=1)
    assert a.X.shape == (50, 2)
    np.testing.assert_array_equal(
        a.X, load_dataset("moons", n_samples=50, noise=0.0, seed=1).X
    )
    assert not np.array_equal(
        load_dataset("circles", seed=1).X, load_dataset("circles", seed=2).X
    )


def test_digits():
    data = load_dataset("digits")
    assert data.X.shape == (1797, 64)
    assert data.task == "multiclass"
    assert data.class_names == tuple("0123456789")
    small = load_dataset("digits", n_samples=100, seed=0)
    assert small.X.shape == (100, 64)
    assert set(np.unique(small.y)) <= set(range(10))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "mnist"}, "unknown dataset 'mnist'; built-in datasets are"),
        ({"name": "moons", "n_samples": 1}, "n_samples must be an integer >= 2"),
        ({"name": "moons", "noise": -1}, "noise must be a number >= 0"),
        ({"name": "digits", "noise": 0.1}, "digits is a fixed dataset"),
        ({"name": "moons", "noise": True}, "noise must be a number >= 0"),
        (
            {"name": "iris", "n_samples": 151},
            r"iris has 150 examples; n_samples must be at most 150 \(got 151\)",
        ),
        ({"name": "moons", "n_classes": 3}, "moons has a fixed number of classes"),
        ({"name": "spiral", "n_classes": 1}, "n_classes must be between 2 and"),
        ({"name": "blobs", "n_classes": 2.5}, "n_classes must be an integer"),
        (
            {"name": "spiral", "n_samples": 4, "n_classes": 5},
            r"n_classes must be between 2 and n_samples \(4\)",
        ),
    ],
)
def test_errors(kwargs, message):
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=message):
        load_dataset(name, **kwargs)


def test_datasets_command_json_end_to_end():
    result = subprocess.run(
        [*NNTUNE, "datasets", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["datasets"]
    assert [row["name"] for row in rows] == list_datasets()
    for row in rows:
        n, d, task, class_names = {**EXPECTED, **REGRESSION}[row["name"]]
        assert row == {
            "name": row["name"],
            "task": task,
            "n_samples": n,
            "n_features": d,
            "n_classes": len(class_names),
            "description": load_dataset(row["name"]).description,
        }


def test_datasets_command_prints_a_table():
    result = subprocess.run(
        [*NNTUNE, "datasets"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"COLUMNS": "160", "PATH": ""},
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == [
        "name",
        "task",
        "examples",
        "features",
        "classes",
        "description",
    ]
    assert any(
        line.split()[:5] == ["digits", "multiclass", "1,797", "64", "10"]
        for line in lines
    )
    for name in list_datasets():
        assert any(line.startswith(name + " ") for line in lines)
