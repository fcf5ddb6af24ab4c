from __future__ import annotations

import numpy as np
import pytest

from nntune import Standardize, load_model, mlp
from nntune.data.batches import minibatch_indices
from nntune.data.io import load_file
from nntune.data.split import default_sizes, train_dev_test_split
from nntune.trees import flatten, unflatten_like


class TestSplit:
    @pytest.mark.parametrize(
        ("m", "expected"),
        [
            (1_000, (600, 200, 200)),
            (100_000, (80_000, 10_000, 10_000)),
            (1_000_000, (980_000, 10_000, 10_000)),
        ],
    )
    def test_size_aware_defaults(self, m, expected):
        split = train_dev_test_split(np.zeros(m, dtype=np.int64), seed=0)
        assert (len(split.train), len(split.dev), len(split.test)) == expected

    def test_disjoint_complete_and_seeded(self):
        y = np.repeat([0, 1, 2], [50, 30, 20])
        split = train_dev_test_split(y, seed=1)
        everything = np.concatenate([split.train, split.dev, split.test])
        assert sorted(everything.tolist()) == list(range(100))
        again = train_dev_test_split(y, seed=1)
        np.testing.assert_array_equal(split.dev, again.dev)
        assert not np.array_equal(split.dev, train_dev_test_split(y, seed=2).dev)

    def test_stratified_within_one_example(self):
        y = np.repeat([0, 1, 2], [500, 300, 200])
        split = train_dev_test_split(y, dev=0.15, test=0.1, seed=3)
        for indices in (split.train, split.dev, split.test):
            counts = np.bincount(y[indices], minlength=3)
            expected = len(indices) * np.array([0.5, 0.3, 0.2])
            assert np.all(np.abs(counts - expected) <= 1), counts

    def test_counts_and_errors(self):
        split = train_dev_test_split(np.arange(50) % 2, dev=5, test=7)
        assert (len(split.dev), len(split.test)) == (5, 7)
        with pytest.raises(ValueError, match="leave no training examples"):
            train_dev_test_split(np.arange(10) % 2, dev=0.5, test=0.5)
        with pytest.raises(ValueError, match="fraction in"):
            train_dev_test_split(np.arange(10) % 2, dev=1.5)
        assert default_sizes(10) == (2, 2)


class TestMinibatches:
    def test_shuffle_then_partition_with_a_smaller_last_batch(self):
        batches = list(minibatch_indices(10, 4, np.random.default_rng(0)))
        assert [len(b) for b in batches] == [4, 4, 2]
        assert sorted(np.concatenate(batches).tolist()) == list(range(10))
        assert np.concatenate(batches).tolist() != list(range(10))

    def test_a_lone_last_example_can_join_the_previous_batch(self):
        rng = np.random.default_rng(0)
        sizes = [len(b) for b in minibatch_indices(129, 64, rng, min_last=2)]
        assert sizes == [64, 65]
        assert [len(b) for b in minibatch_indices(129, 64, rng)] == [64, 64, 1]

    def test_extremes(self):
        assert list(minibatch_indices(5, 5, None)) == [slice(None)]
        assert len(list(minibatch_indices(5, 1, np.random.default_rng(0)))) == 5

    def test_full_batch_makes_no_copy(self):
        X = np.arange(12.0).reshape(6, 2)
        (batch,) = minibatch_indices(6, 100, None)
        assert np.shares_memory(X[batch], X)

    def test_bad_batch_size(self):
        with pytest.raises(ValueError, match="batch_size must be >= 1"):
            list(minibatch_indices(5, 0, None))


class TestStandardize:
    def test_model_standardizes_its_own_inputs_after_loading(self, tmp_path):
        rng = np.random.default_rng(0)
        X = rng.normal(50.0, 7.0, size=(40, 3))
        model = mlp([4], standardize=True).init(3, seed=0, dtype="float64").adapt(X)
        state = model.state["standardize_0"]
        np.testing.assert_allclose(state["mean"], X.mean(axis=0))
        np.testing.assert_allclose(state["scale"], X.std(axis=0))
        model.save(tmp_path / "m")
        loaded = load_model(tmp_path / "m")
        new = rng.normal(50.0, 7.0, size=(5, 3))
        np.testing.assert_array_equal(
            loaded.predict_proba(new), model.predict_proba(new)
        )

    def test_constant_feature_is_only_centred(self):
        state = Standardize().adapt(np.array([[1.0, 3.0], [1.0, 5.0]]))
        assert state["scale"].tolist() == [1.0, 1.0]


class TestFiles:
    def test_csv_with_target_column_and_text_classes(self, tmp_path):
        path = tmp_path / "d.csv"
        path.write_text("a,label,b\n1,cat,2\n3,dog,4\n5,cat,6\n")
        data = load_file(path, target="label")
        np.testing.assert_array_equal(data.X, [[1, 2], [3, 4], [5, 6]])
        assert data.y.tolist() == [0, 1, 0]
        assert data.class_names == ("cat", "dog")
        assert data.task == "binary"

    def test_npz_regression(self, tmp_path):
        X = np.arange(20.0).reshape(10, 2)
        np.savez(tmp_path / "d.npz", X=X, y=X.sum(axis=1) / 3)
        data = load_file(tmp_path / "d.npz")
        assert data.task == "regression"
        np.testing.assert_array_equal(data.X, X)

    @pytest.mark.parametrize(
        ("text", "kwargs", "message"),
        [
            ("a,b\n1,x\n", {"target": "a"}, "column 'b' is not numeric"),
            ("a,b\n1,2\n", {"target": "c"}, "has no column 'c'"),
            ("a,b\n,1\n2,0\n", {}, "NaN or infinite values in 1 row"),
            ("a,b\n1,2,3\n", {}, "line 2 has 3 fields"),
        ],
    )
    def test_bad_csv(self, tmp_path, text, kwargs, message):
        path = tmp_path / "bad.csv"
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            load_file(path, **kwargs)

    def test_missing_file_and_wrong_type(self, tmp_path):
        with pytest.raises(ValueError, match="does not exist"):
            load_file(tmp_path / "nope.csv")
        (tmp_path / "d.txt").write_text("1")
        with pytest.raises(ValueError, match="unsupported type"):
            load_file(tmp_path / "d.txt")

    def test_npz_mismatched_lengths(self, tmp_path):
        np.savez(tmp_path / "d.npz", X=np.zeros((3, 2)), y=np.zeros(2))
        with pytest.raises(ValueError, match="X has 3 rows but y has 2"):
            load_file(tmp_path / "d.npz")


def test_trees_round_trip_namedtuples_and_numbers():
    from typing import NamedTuple

    class S(NamedTuple):
        count: int
        mu: dict

    tree = (S(3, {"d": {"W": np.ones((2, 2))}}), {"lr": 0.5})
    arrays, scalars = flatten(tree, "opt")
    assert set(arrays) == {"opt/0/1/d/W"}
    template = (S(0, {"d": {"W": np.zeros((2, 2))}}), {"lr": 0.0})
    rebuilt = unflatten_like(template, arrays, scalars, "opt")
    assert isinstance(rebuilt[0], S)
    assert rebuilt[0].count == 3
    assert rebuilt[1] == {"lr": 0.5}
    with pytest.raises(ValueError, match="has shape"):
        unflatten_like(
            (S(0, {"d": {"W": np.zeros(3)}}), {"lr": 0.0}), arrays, scalars, "opt"
        )
