from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_circles, make_moons

from nntune import list_datasets, load_dataset


def test_list():
    assert list_datasets() == ["circles", "digits", "moons"]


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
    ],
)
def test_errors(kwargs, message):
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=message):
        load_dataset(name, **kwargs)
