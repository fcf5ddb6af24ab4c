from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from helpers import check_layer
from nntune import (
    BatchNorm,
    Dense,
    Dropout,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    layer_from_config,
    sigmoid,
    softmax,
)
from nntune.backend.random import key as random_key

RNG = np.random.default_rng(42)
X = RNG.standard_normal((12, 5))
# Keep ReLU inputs away from the kink at 0, where the derivative is undefined.
X_AWAY_FROM_ZERO = np.where(np.abs(X) < 0.05, 0.5, X)

LAYERS = [
    pytest.param(Dense(4, init="xavier"), X, id="dense"),
    pytest.param(Dense(4, use_bias=False), X, id="dense-no-bias"),
    pytest.param(ReLU(), X_AWAY_FROM_ZERO, id="relu"),
    pytest.param(LeakyReLU(0.1), X_AWAY_FROM_ZERO, id="leaky_relu"),
    pytest.param(Tanh(), X, id="tanh"),
    pytest.param(Sigmoid(), X, id="sigmoid"),
    pytest.param(Identity(), X, id="identity"),
    pytest.param(Softmax(), X, id="softmax"),
    pytest.param(BatchNorm(), X, id="batch_norm"),
    pytest.param(BatchNorm(momentum=0.5, eps=1e-3), X * 3 + 1, id="batch_norm-eps"),
    pytest.param(Dropout(0.7), X, id="dropout-frozen-mask"),
]


@pytest.mark.parametrize(("layer", "x"), LAYERS)
def test_backward_matches_numerical_gradient(layer, x):
    differences = check_layer(layer, x)
    assert max(differences.values()) < 1e-7, differences


def test_batch_norm_inference_mode_gradient():
    differences = check_layer(BatchNorm(), X, training=False)
    assert max(differences.values()) < 1e-7, differences


def test_layer_check_catches_a_planted_wrong_backward():
    class WrongTanh(Tanh):
        def _backward(self, cache, dy):
            return dy * (1 - cache)  # should be 1 - cache**2

    assert check_layer(WrongTanh(), X)["x"] > 1e-2


def test_relu_derivative_at_zero_is_zero_like_pytorch():
    layer = ReLU()
    _, cache, _ = layer.forward({}, {}, np.zeros((1, 3)), training=True)
    dx, _ = layer.backward({}, cache, np.ones((1, 3)))
    assert dx.tolist() == [[0.0, 0.0, 0.0]]


def test_relu_lets_nan_through_for_the_divergence_guard():
    y, _, _ = ReLU().forward({}, {}, np.array([[np.nan, -1.0]]), training=False)
    assert np.isnan(y[0, 0])
    assert y[0, 1] == 0


def test_input_layer_can_skip_its_input_gradient():
    layer = Dense(3)
    params, _, _ = layer.build(np.random.default_rng(0), 4, "float64")
    _, cache, _ = layer.forward(params, {}, X[:, :4], training=True)
    dy = np.ones((12, 3))
    skipped, grads = layer.backward(params, cache, dy, input_grad=False)
    dx, same_grads = layer.backward(params, cache, dy)
    assert skipped is None
    assert dx.shape == (12, 4)
    np.testing.assert_array_equal(grads["W"], same_grads["W"])


def test_forward_does_not_mutate_inputs():
    x = X.copy()
    layer = BatchNorm()
    params, state, _ = layer.build(np.random.default_rng(0), 5, "float64")
    before = {k: v.copy() for k, v in state.items()}
    _, _, new_state = layer.forward(params, state, x, training=True)
    np.testing.assert_array_equal(x, X)
    for key, value in before.items():
        np.testing.assert_array_equal(state[key], value)
        assert not np.array_equal(new_state[key], value)


def test_dense_keeps_dtype():
    layer = Dense(3)
    for dtype in ("float32", "float64"):
        params, _, _ = layer.build(np.random.default_rng(0), 2, dtype)
        y, _, _ = layer.forward(params, {}, X[:, :2].astype(dtype), training=False)
        assert params["W"].dtype == dtype
        assert params["b"].dtype == dtype
        assert y.dtype == dtype


class TestDropout:
    def test_inverted_scaling_keeps_the_expected_value(self):
        x = np.ones((400, 250))
        y, mask, _ = Dropout(0.8).forward({}, {}, x, training=True, key=random_key(0))
        assert set(np.unique(y).tolist()) == {0.0, 1.25}
        assert y.mean() == pytest.approx(1.0, abs=0.01)
        dx, _ = Dropout(0.8).backward({}, mask, np.full_like(x, 2.0))
        np.testing.assert_array_equal(dx, 2.0 * mask)

    def test_identity_at_inference_and_when_keep_prob_is_one(self):
        y, _, _ = Dropout(0.5).forward({}, {}, X, training=False)
        assert y is X
        y, _, _ = Dropout(1.0).forward({}, {}, X, training=True)
        assert y is X

    def test_same_seed_same_mask(self):
        def run(seed):
            return Dropout(0.5).forward({}, {}, X, training=True, key=random_key(seed))[
                0
            ]

        np.testing.assert_array_equal(run(3), run(3))
        assert not np.array_equal(run(3), run(4))

    @pytest.mark.parametrize("keep_prob", [0, -0.1, 1.5, float("nan")])
    def test_keep_prob_outside_unit_interval_is_rejected(self, keep_prob):
        with pytest.raises(ValueError, match=r"keep_prob .* must be in \(0, 1\]"):
            Dropout(keep_prob)

    def test_training_without_key_explains(self):
        with pytest.raises(ValueError, match="needs a random key"):
            Dropout(0.5).forward({}, {}, X, training=True)


class TestBatchNorm:
    def test_normalizes_over_the_batch(self):
        layer = BatchNorm()
        params, state, _ = layer.build(np.random.default_rng(0), 5, "float64")
        y, _, _ = layer.forward(params, state, X * 7 + 3, training=True)
        np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-12)
        np.testing.assert_allclose(y.var(axis=0), 1, rtol=1e-5)

    def test_running_statistics_are_an_ewa_with_unbiased_variance(self):
        # Hand-worked: batch [1, 3] has mean 2, biased var 1, unbiased var 2.
        layer = BatchNorm(momentum=0.9)
        params, state, _ = layer.build(np.random.default_rng(0), 1, "float64")
        _, _, state = layer.forward(
            params, state, np.array([[1.0], [3.0]]), training=True
        )
        assert state["running_mean"].tolist() == pytest.approx([0.2])
        assert state["running_var"].tolist() == pytest.approx([0.9 + 0.1 * 2])

    def test_inference_uses_running_statistics(self):
        layer = BatchNorm(eps=1e-5)
        params = {"gamma": np.array([2.0]), "beta": np.array([1.0])}
        state = {"running_mean": np.array([3.0]), "running_var": np.array([4.0])}
        y, _, new_state = layer.forward(
            params, state, np.array([[5.0]]), training=False
        )
        assert y.item() == pytest.approx(2.0 * (5 - 3) / np.sqrt(4 + 1e-5) + 1)
        assert new_state is state

    def test_single_example_batch_in_training_explains(self):
        layer = BatchNorm()
        params, state, _ = layer.build(np.random.default_rng(0), 5, "float64")
        with pytest.raises(ValueError, match="at least 2 examples"):
            layer.forward(params, state, X[:1], training=True)

    @pytest.mark.parametrize("momentum", [1.0, -0.1, 2])
    def test_bad_momentum(self, momentum):
        with pytest.raises(ValueError, match="momentum"):
            BatchNorm(momentum=momentum)


@given(arrays(np.float64, (4, 6), elements=st.floats(-1e3, 1e3)))
def test_softmax_rows_sum_to_one(z):
    s = softmax(z)
    np.testing.assert_allclose(s.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(s >= 0)


@given(arrays(np.float64, 20, elements=st.floats(-1e4, 1e4)))
def test_sigmoid_is_stable_and_symmetric(z):
    s = sigmoid(z)
    assert np.all((s >= 0) & (s <= 1))
    np.testing.assert_allclose(s + sigmoid(-z), 1.0, atol=1e-15)


@pytest.mark.parametrize(
    "layer",
    [
        Dense(3, init="random:10", use_bias=False, l2=0.1),
        LeakyReLU(0.2),
        Dropout(0.8),
        BatchNorm(momentum=0.8),
        Softmax(),
    ],
)
def test_config_round_trip(layer):
    assert layer_from_config(layer.config()) == layer


def test_config_errors_are_clear():
    with pytest.raises(ValueError, match="unknown layer kind 'conv'"):
        layer_from_config({"kind": "conv"})
    with pytest.raises(ValueError, match=r"unexpected options \['size'\]"):
        layer_from_config({"kind": "dense", "units": 2, "size": 3})


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"units": 0}, ValueError, "units must be >= 1"),
        ({"units": 2.5}, TypeError, "units must be an int"),
        ({"units": 2, "init": "glorious"}, ValueError, "unknown initializer"),
        ({"units": 2, "l2": -1.0}, ValueError, "finite number >= 0"),
    ],
)
def test_dense_validation(kwargs, error, message):
    with pytest.raises(error, match=message):
        Dense(**kwargs)


def test_subclass_inheriting_a_kind_does_not_replace_the_registered_layer():
    class Custom(Tanh):
        pass

    assert type(layer_from_config({"kind": "tanh"})) is Tanh


def test_two_layers_cannot_claim_one_kind():
    with pytest.raises(TypeError, match="already uses"):

        class Impostor(Tanh):
            kind = "relu"


def test_relu_gives_positive_zeros_and_lets_nan_through():
    """z * mask + 0: no -0.0 for negative z; NaN (and an overflowed -inf) give NaN."""
    z = np.array([[np.nan, -np.inf, -2.0, -0.0, 0.0, 3.0, np.inf]], dtype=np.float32)
    with np.errstate(invalid="ignore"):  # -inf * 0
        y, mask, _ = ReLU().forward({}, {}, z, training=True)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [[np.nan, np.nan, 0, 0, 0, 3, np.inf]])
    assert not np.signbit(y[0, 2:5]).any()
    np.testing.assert_array_equal(mask, [[0, 0, 0, 0, 0, 1, 1]])
