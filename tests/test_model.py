from __future__ import annotations

import numpy as np
import pytest

from nntune import (
    BatchNorm,
    Dense,
    Dropout,
    ReLU,
    Sequential,
    gradient_check,
    load_dataset,
    mlp,
)
from nntune.backend.random import key as random_key

MOONS = load_dataset("moons", n_samples=80, seed=0)
DIGITS = load_dataset("digits", n_samples=120, seed=0)


def test_init_builds_named_parameter_and_state_trees():
    model = mlp([4, 3], batch_norm=True).init(2, seed=0)
    assert model.names == (
        "dense_0",
        "batch_norm_1",
        "relu_2",
        "dense_3",
        "batch_norm_4",
        "relu_5",
        "dense_6",
    )
    assert set(model.params["dense_0"]) == {"W"}  # bias dropped before batch norm
    assert set(model.params["dense_6"]) == {"W", "b"}
    assert set(model.state) == {"batch_norm_1", "batch_norm_4"}
    assert model.n_parameters == 2 * 4 + 8 + 4 * 3 + 6 + 3 + 1


def test_same_seed_same_weights():
    a = mlp([5]).init(2, seed=3)
    b = mlp([5]).init(2, seed=3)
    c = mlp([5]).init(2, seed=4)
    np.testing.assert_array_equal(a.params["dense_0"]["W"], b.params["dense_0"]["W"])
    assert not np.array_equal(a.params["dense_0"]["W"], c.params["dense_0"]["W"])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_kept_end_to_end(dtype):
    model = mlp([6], task="multiclass", outputs=10, batch_norm=True).init(
        64, dtype=dtype
    )
    x, targets = model.prepare(DIGITS.X, DIGITS.y)
    cost, grads, state = model.value_and_grad(model.params, model.state, x, targets)
    assert x.dtype == dtype
    assert targets.dtype == dtype
    assert cost.dtype == dtype
    for tree in (model.params, grads, state):
        for arrays in tree.values():
            assert all(a.dtype == dtype for a in arrays.values())
    assert model.predict_proba(DIGITS.X).dtype == dtype


def test_predict_and_predict_proba_binary():
    model = mlp([5]).init(2, seed=0)
    probabilities = model.predict_proba(MOONS.X)
    assert probabilities.shape == (80, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(model.predict(MOONS.X), probabilities.argmax(axis=1))


def test_predict_multiclass_and_regression():
    model = mlp([8], task="multiclass", outputs=10).init(64, seed=0)
    assert model.predict(DIGITS.X).shape == (120,)
    assert set(model.predict(DIGITS.X).tolist()) <= set(range(10))
    regressor = mlp([4], task="regression", outputs=2).init(3, seed=0)
    assert regressor.predict(np.ones((5, 3))).shape == (5, 2)
    with pytest.raises(ValueError, match="predict_proba is for classifiers"):
        regressor.predict_proba(np.ones((5, 3)))


def test_inference_ignores_dropout_and_uses_running_statistics():
    model = mlp([6], batch_norm=True, keep_prob=0.5).init(2, seed=0)
    first = model.predict_proba(MOONS.X)
    np.testing.assert_array_equal(first, model.predict_proba(MOONS.X))
    x, _ = model.prepare(MOONS.X)
    _, _, model.state = model.apply(
        model.params, model.state, x, training=True, key=random_key(0)
    )
    assert not np.array_equal(first, model.predict_proba(MOONS.X))


def test_value_and_grad_includes_regularization():
    plain = mlp([5]).init(2, seed=1, dtype="float64")
    regularized = mlp([5], l2=0.7, l1=0.2).init(2, seed=1, dtype="float64")
    x, targets = plain.prepare(MOONS.X, MOONS.y)
    cost, grads, _ = plain.value_and_grad(plain.params, plain.state, x, targets)
    cost_r, grads_r, _ = regularized.value_and_grad(
        regularized.params, regularized.state, x, targets
    )
    weights = [plain.params[name]["W"] for name in ("dense_0", "dense_2")]
    penalty = sum(
        0.7 / 160 * np.sum(w**2) + 0.2 / 160 * np.sum(np.abs(w)) for w in weights
    )
    assert cost_r == pytest.approx(cost + penalty, rel=1e-12)
    w = plain.params["dense_0"]["W"]
    np.testing.assert_allclose(
        grads_r["dense_0"]["W"],
        grads["dense_0"]["W"] + 0.7 / 80 * w + 0.2 / 160 * np.sign(w),
    )
    np.testing.assert_array_equal(grads_r["dense_0"]["b"], grads["dense_0"]["b"])


def test_per_layer_regularization_overrides_the_model():
    model = Sequential([Dense(4, l2=0.0), ReLU(), Dense(1, l2=2.0)], l2=0.5)
    model.init(2, dtype="float64")
    strengths = {name: l2.strength for name, (l2, _) in model.regularizers().items()}
    assert strengths == {"dense_0": 0.0, "dense_2": 2.0}
    assert gradient_check(model, MOONS.X, MOONS.y).passed


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_deep_stack_gradient_check(activation, batch_norm):
    model = mlp(
        [8, 7, 6, 5, 4], activation=activation, batch_norm=batch_norm, l2=0.3, l1=0.05
    ).init(2, seed=2, dtype="float64")
    report = gradient_check(model, MOONS.X, MOONS.y)
    assert len(model.layers) >= 11
    assert report.max_relative_difference < 1e-7, str(report)


def test_multiclass_and_regression_gradient_checks():
    classifier = mlp([7, 5], task="multiclass", outputs=10, batch_norm=True, l2=0.5)
    classifier.init(64, seed=0, dtype="float64")
    assert (
        gradient_check(classifier, DIGITS.X / 16, DIGITS.y).max_relative_difference
        < 1e-7
    )
    regressor = mlp([6, 4], task="regression", outputs=2, activation="tanh", l2=0.1)
    regressor.init(2, seed=0, dtype="float64")
    targets = np.column_stack([MOONS.X.sum(axis=1), MOONS.X[:, 0] ** 2])
    assert gradient_check(regressor, MOONS.X, targets).max_relative_difference < 1e-7


def test_summary_lists_layers_shapes_and_counts():
    text = mlp([10, 5], batch_norm=True, l2=0.7).init(2).summary()
    assert "batch_norm_1      (None, 10)            20" in text
    assert "Total params: 20 + 20 + 0 + 50 + 10 + 0 + 6 = 106 (float32)" in text
    assert "L2 lambda=0.7" in text


class TestValidation:
    model = mlp([3]).init(2, seed=0)

    def test_wrong_feature_count(self):
        with pytest.raises(
            ValueError, match=r"X has 3 features but the model expects 2"
        ):
            self.model.predict(np.zeros((4, 3)))

    def test_one_dimensional_input(self):
        with pytest.raises(ValueError, match=r"must be 2-D .* got shape \(2,\)"):
            self.model.predict(np.zeros(2))

    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    def test_non_finite_input(self, bad):
        X = np.zeros((4, 2))
        X[1, 0] = bad
        with pytest.raises(ValueError, match="X contains 1 NaN or infinite value"):
            self.model.predict(X)

    def test_non_numeric_input(self):
        with pytest.raises(ValueError, match="X must be numeric"):
            self.model.predict(np.array([["a", "b"]]))

    def test_labels_outside_the_classes(self):
        with pytest.raises(ValueError, match="labels outside the classes"):
            self.model.cost(np.zeros((3, 2)), [0, 1, 5])

    def test_label_count_mismatch(self):
        with pytest.raises(ValueError, match="X has 3 examples but y has 2"):
            self.model.cost(np.zeros((3, 2)), [0, 1])

    def test_not_initialised(self):
        with pytest.raises(ValueError, match=r"call model.init\(in_features"):
            mlp([3]).predict(np.zeros((1, 2)))

    def test_negative_lambda(self):
        with pytest.raises(ValueError, match="L2 strength lambda must be"):
            mlp([3], l2=-1.0)

    def test_output_width_must_fit_the_loss(self):
        with pytest.raises(ValueError, match="needs 1 output unit"):
            Sequential([Dense(2)]).init(3)
        with pytest.raises(ValueError, match="one output unit per class"):
            Sequential([Dense(1)], "softmax_cross_entropy").init(3)

    def test_not_a_layer(self):
        with pytest.raises(TypeError, match="layer 1 is a str"):
            Sequential([Dense(2), "relu"])

    def test_unknown_loss_and_activation(self):
        with pytest.raises(ValueError, match="unknown loss 'hinge'"):
            Sequential([Dense(1)], "hinge")
        with pytest.raises(ValueError, match="unknown activation 'swish'"):
            mlp([3], activation="swish")

    def test_dropout_keep_prob_from_the_builder(self):
        with pytest.raises(ValueError, match=r"keep_prob .* got 1.5"):
            mlp([3], keep_prob=1.5)


def test_batch_norm_and_dropout_layers_compose_by_hand():
    model = Sequential(
        [Dense(6, use_bias=False), BatchNorm(), ReLU(), Dropout(0.9), Dense(1)]
    )
    model.init(2, seed=0)
    assert model.predict(MOONS.X).shape == (80,)


@pytest.mark.parametrize("row", [0, 7, 40])
def test_prepare_finds_a_nan_in_any_block_of_rows(monkeypatch, row):
    """X is checked a block of rows at a time (no mask the size of X): every block."""
    import nntune
    from nntune import model_inputs

    monkeypatch.setattr(model_inputs, "FINITE_CHECK_ELEMENTS", 6)  # 3 rows a block
    model = nntune.mlp([3]).init(2, seed=0)
    X = np.ones((41, 2), dtype=np.float32)
    model.prepare(X, np.zeros(41))
    X[row, 1] = np.inf
    with pytest.raises(ValueError, match="X contains 1 NaN or infinite value"):
        model.prepare(X, np.zeros(41))
