"""sample_weight and class_weight: fit, populations, JAX, data out of core, errors."""

from __future__ import annotations

import numpy as np
import pytest

import nntune
from helpers import require
from nntune.data.targets import ClassTargets
from nntune.population import fit_population
from nntune.sample_weights import class_weights, row_weights, with_weights
from nntune.training import evaluation


def imbalanced(m=600, seed=0):
    """Two features; about 11% of class 1, overlapping class 0."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, 2))
    y = (X[:, 0] + 0.5 * rng.standard_normal(m) > 1.3).astype(int)
    return X, y


def trained(X, y, *, epochs=20, **options):
    model = nntune.mlp([8]).init(X.shape[1], seed=0, dtype=options.pop("dtype", None))
    history = nntune.fit(
        model,
        X,
        y,
        epochs=epochs,
        optimizer=nntune.adam(0.01),
        progress="silent",
        **options,
    )
    return model, history


def recall_of_class_1(model, X, y):
    return float(np.mean(np.asarray(model.predict(X))[y == 1] == 1))


def test_balanced_class_weights_raise_the_minority_class_recall():
    X, y = imbalanced()
    plain = recall_of_class_1(trained(X, y)[0], X, y)
    balanced = recall_of_class_1(trained(X, y, class_weight="balanced")[0], X, y)
    # Measured: 0.62 -> 0.87 (the minority class weighs 4.4 times class 0's 0.56).
    assert balanced > plain + 0.15


def test_weights_are_repeated_rows_for_full_batch_gradient_descent():
    # sum_i w_i l_i / sum_i w_i over the whole set is the mean over repeated rows:
    # with one batch (no shuffle order to differ), no standardizer and no L2 the
    # weights trained are the same (up to rounding), which pins the convention.
    X, y = imbalanced(m=40, seed=1)
    counts = np.random.default_rng(2).integers(0, 4, 40)
    options = {"epochs": 5, "batch_size": 1000, "dtype": "float64"}
    weighted = trained(X, y, sample_weight=counts, **options)[0]
    repeated = trained(np.repeat(X, counts, 0), np.repeat(y, counts), **options)[0]
    for layer, arrays in repeated.params.items():
        for name, array in arrays.items():
            np.testing.assert_allclose(
                weighted.params[layer][name], array, rtol=1e-9, atol=1e-12
            )


def test_the_recorded_training_cost_is_the_weighted_loss():
    X, y = imbalanced(m=100)
    weights = np.where(y == 1, 5.0, 1.0)
    model, history = trained(
        X, y, epochs=1, sample_weight=weights, train_metrics="full"
    )
    logits = np.asarray(model.logits(X), dtype=np.float64)
    losses = np.logaddexp(0, logits[:, 0]) - y * logits[:, 0]
    expected = np.sum(weights * losses) / weights.sum()
    assert history.epochs[-1]["train_cost"] == pytest.approx(expected, rel=1e-5)
    assert history.epochs[-1]["train_accuracy"] == pytest.approx(
        np.mean(np.asarray(model.predict(X)) == y)  # accuracy is not weighted
    )


def test_a_population_trains_each_member_as_a_weighted_fit_would():
    X, y = imbalanced(m=200)
    model = nntune.mlp([8]).init(2, seed=0)
    result = fit_population(
        model,
        X,
        y,
        members=[{"learning_rate": 0.01, "init_seed": 0}, {"learning_rate": 0.03}],
        optimizer=nntune.adam(0.01),
        epochs=3,
        class_weight="balanced",
    )
    alone = trained(X, y, epochs=3, class_weight="balanced", batch_size=64)[1]
    np.testing.assert_allclose(
        result.histories[0].column("train_cost"),
        alone.column("train_cost"),
        rtol=1e-5,
    )


def test_the_jax_backend_trains_the_same_weighted_steps():
    require("jax")
    X, y = imbalanced(m=200)
    options = {"epochs": 3, "dtype": "float64", "class_weight": {1: 4.0}}
    eager = trained(X, y, **options)[0]
    compiled = trained(X, y, backend="jax", **options)[0]
    np.testing.assert_allclose(
        compiled.params["dense_0"]["W"], eager.params["dense_0"]["W"], rtol=1e-9
    )


def test_weighted_labels_read_out_of_core_equal_the_dense_ones():
    labels = np.array([2, 0, 1, 2])
    weights = np.array([1.0, 0.5, 2.0, 0.0])
    dense = with_weights(np.eye(3, dtype=np.float32)[labels], weights)
    compact = ClassTargets(labels, 3, np.float32, one_hot=True).weighted(weights)
    assert compact.shape == dense.shape == (4, 4)
    np.testing.assert_array_equal(compact[1:3], dense[1:3])
    np.testing.assert_array_equal(np.asarray(compact), dense)


def test_a_chunked_evaluation_weighs_each_chunk_by_its_rows_weights(monkeypatch):
    X, y = imbalanced(m=50)
    model = nntune.mlp([4]).init(2, seed=0, dtype="float64")
    x, targets = model.prepare(X, y)
    weighted = with_weights(targets, np.linspace(0, 3, 50))
    whole = evaluation.evaluate(model, model.params, model.state, x, weighted)
    monkeypatch.setattr(evaluation, "EVALUATION_ROWS", 7)
    chunked = evaluation.evaluate(model, model.params, model.state, x, weighted)
    assert chunked[0] == pytest.approx(whole[0], rel=1e-12)
    assert chunked[1] == pytest.approx(whole[1], rel=1e-12)


def test_accuracy_ignores_the_weight_column():
    model = nntune.mlp([4], task="multiclass", outputs=3).init(2, seed=0)
    logits = np.array([[3.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    targets = with_weights(np.eye(3)[[0, 1]], [0.0, 9.0])  # 9 > any one-hot entry
    assert float(evaluation.accuracy(model, logits, targets)) == 0.5


def test_balanced_is_sklearns_rule_over_the_classes_present():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0, 0, 0, 0, 2, 2, 3])
    expected = compute_class_weight("balanced", classes=np.array([0, 2, 3]), y=y)
    np.testing.assert_allclose(class_weights(y, 4, "balanced")[[0, 2, 3]], expected)
    assert class_weights(y, 4, "balanced")[1] == 1.0  # absent: any weight will do


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        (
            {"sample_weight": [1.0, 2.0]},
            ValueError,
            r"shape \(4,\), one weight per row",
        ),
        ({"sample_weight": np.ones((4, 2))}, ValueError, r"got shape \(4, 2\)"),
        ({"sample_weight": [1, -1, 1, 1]}, ValueError, "row 1 has -1.0"),
        ({"sample_weight": [1, np.nan, 1, 1]}, ValueError, "finite numbers >= 0"),
        ({"sample_weight": np.zeros(4)}, ValueError, "sample weights are all zero"),
        ({"sample_weight": ["a"] * 4}, ValueError, "must be numbers, one per row"),
        ({"class_weight": "balance"}, ValueError, "'balance' is not known"),
        (
            {"class_weight": {2: 1.0}},
            ValueError,
            r"class 2, outside the classes 0\.\.1",
        ),
        ({"class_weight": {"0": 1.0}}, ValueError, "key '0'; expected class indices"),
        ({"class_weight": {0: -1}}, ValueError, r"class_weight\[0\] = -1; expected"),
        ({"class_weight": [1, 2]}, TypeError, "got a list"),
    ],
)
def test_bad_weights_say_what_was_expected(options, error, message):
    with pytest.raises(error, match=message):
        row_weights(4, [0, 1, 1, 0], 2, **options)


def test_class_weights_of_a_regression_are_refused_before_training():
    model = nntune.mlp([4], task="regression").init(2, seed=0)
    with pytest.raises(ValueError, match=r"regression\. Give each row its weight"):
        nntune.fit(
            model, np.zeros((4, 2)), np.zeros(4), class_weight="balanced", epochs=1
        )
